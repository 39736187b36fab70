// The LR preview of a plan (POST /api/plan, the trainer's own `lr_at`), drawn honestly:
// warm-up as the ramp the loop follows (several samples per epoch), frozen epochs as a
// hatched strip under the curves (not a gap, which a warm-up starting at 0 would also make),
// stages with identical schedules as one line labelled with all their names, and plain axes
// with a word when nothing trains. Epoch e (1-based) spans e − ½ … e + ½ on the x axis.
"use strict";

window.Stagewise = window.Stagewise || {};

(function (ns) {
  const charts = ns.charts;

  /** Stages whose LR samples and frozen epochs are identical, grouped in stage order. */
  function groups(plan) {
    const byKey = new Map();
    plan.stages.forEach((s) => {
      const key = JSON.stringify([plan.lr_curve[s.name], plan.frozen[s.name]]);
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(s.name);
    });
    return Array.from(byKey.values());
  }

  /** Runs of frozen epochs as [first, last] (0-based, inclusive). */
  function frozenRuns(flags) {
    const runs = [];
    flags.forEach((frozen, e) => {
      if (!frozen) return;
      const last = runs[runs.length - 1];
      if (last && last[1] === e - 1) last[1] = e;
      else runs.push([e, e]);
    });
    return runs;
  }

  function lineTrace(plan, names, i) {
    const n = plan.points_per_epoch;
    const values = plan.lr_curve[names[0]];
    const allFrozen = plan.frozen[names[0]].every(Boolean);
    return Object.assign(charts.curveStyle(i), {
      type: "scatter", mode: "lines+markers", name: names.join(", ") + (allFrozen ? " (frozen)" : ""),
      x: values.map((_, j) => Math.floor(j / n) + 0.5 + (j % n) / n),
      y: values.map((v) => (v > 0 ? v : null)),
      connectgaps: false, hovertemplate: `${names.join(", ")}: %{y:.3g}<extra></extra>`,
    }, { marker: Object.assign(charts.curveStyle(i).marker, { maxdisplayed: 24 }) });
  }

  function strip(plan, names, i) {
    const runs = frozenRuns(plan.frozen[names[0]]);
    const colour = charts.colour(i);
    const label = names.join(", ");
    return {
      type: "bar", orientation: "h", yaxis: "y2", showlegend: false, y: runs.map(() => label),
      base: runs.map(([a]) => a + 0.5), x: runs.map(([a, b]) => b - a + 1),
      marker: { color: charts.cssVar("--bg"), line: { color: colour, width: 1 }, pattern: { shape: "/", fgcolor: colour, size: 6 } },
      text: runs.map(() => `${label} frozen`), textposition: "inside", insidetextanchor: "start",
      textfont: { color: charts.cssVar("--fg"), size: 11 }, constraintext: "none", width: 0.8,
      hovertemplate: runs.map(([a, b]) => `${label} frozen in epoch${a === b ? ` ${a + 1}` : `s ${a + 1}–${b + 1}`}<extra></extra>`),
    };
  }

  /** Draw `plan` into `el`. */
  function draw(el, plan) {
    const gs = groups(plan);
    const frozenGroups = gs.filter((names) => plan.frozen[names[0]].some(Boolean));
    const traces = gs.map((names, i) => lineTrace(plan, names, i));
    gs.forEach((names, i) => { if (frozenGroups.includes(names)) traces.push(strip(plan, names, i)); });
    const lay = charts.layout("LR (log scale)", { log: true, xRange: [0.5, plan.epochs + 0.5], dtick: plan.epochs <= 12 ? 1 : undefined });
    lay.hovermode = "closest";
    if (frozenGroups.length) {
      const share = Math.min(0.1 * frozenGroups.length, 0.4);
      lay.yaxis.domain = [share + 0.06, 1];
      lay.yaxis2 = { domain: [0, share], type: "category", showticklabels: false, showgrid: false, fixedrange: true, zeroline: false };
      lay.barmode = "overlay";
    }
    if (!Object.values(plan.lr_curve).some((values) => values.some((v) => v > 0))) {
      // Nothing to autorange over: a plain decade range and a word, not an axis up to 1e4.
      Object.assign(lay.yaxis, { range: [-4, 0], autorange: false });
      lay.annotations = [{ text: "Every stage is frozen: nothing would train.", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.75 }];
    }
    return charts.draw(el, traces, lay);
  }

  ns.lrPreview = { draw, groups, frozenRuns };
})(window.Stagewise);
