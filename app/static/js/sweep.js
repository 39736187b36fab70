// Sweep page: best-so-far, the heat map and parallel coordinates from the numbers the server
// computed (app/pages/sweep_page.py), and a live page while the sweep runs.
"use strict";

(function () {
  const charts = window.Stagewise.charts;
  const data = charts.pageData("sweep-data");
  if (!data) return;
  const isAcc = data.objective === "val_acc";
  const valueAxis = isAcc ? { tickformat: ".0%", range: [0, 1.02] } : {}; // accuracy on its whole scale
  const base = { margin: { l: 72, r: 16, t: 8, b: 56 }, font: { family: "system-ui, sans-serif", size: 12 } };

  function bestSoFar() {
    const el = document.getElementById("best-plot");
    const b = data.best_so_far;
    if (!el || !b) return;
    const trials = Object.assign(
      { type: "scatter", mode: "markers", name: "trial", x: b.number, y: b.value,
        text: b.state, hovertemplate: "trial %{x}: %{y} (%{text})<extra></extra>" },
      { marker: { color: b.state.map((s) => (s === "complete" ? charts.PALETTE[0] : "#999999")),
        symbol: b.state.map((s) => (s === "pruned" ? "x" : "circle")), size: 8 } }
    );
    const best = Object.assign({ type: "scatter", mode: "lines", name: "best so far", x: b.number, y: b.best,
      line: { shape: "hv", color: charts.PALETTE[5], width: 2 } });
    charts.draw(el, [trials, best], Object.assign({}, base, {
      xaxis: { title: { text: "trial" }, dtick: 1 }, yaxis: Object.assign({ title: { text: data.objective } }, valueAxis),
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    }));
  }

  function heatMap() {
    const el = document.getElementById("heat-plot");
    const h = data.heat_map;
    if (!el) return;
    if (!h) { el.textContent = "No trial has a value yet."; return; }
    charts.draw(el, [{
      type: "heatmap", x: h.x_labels, y: h.y_labels, z: h.z, customdata: h.counts, colorscale: "Viridis",
      zmin: isAcc ? 0 : undefined, zmax: isAcc ? 1 : undefined,
      reversescale: !isAcc, hoverongaps: false, colorbar: { title: { text: data.objective }, tickformat: isAcc ? ".0%" : "" },
      hovertemplate: h.x + " %{x}<br>" + h.y + " %{y}<br>best %{z} of %{customdata} trial(s)<extra></extra>",
    }], Object.assign({}, base, {
      xaxis: { title: { text: h.x }, type: "category" }, yaxis: { title: { text: h.y }, type: "category" },
    }));
  }

  // Parallel coordinates drawn as plain SVG lines, one per trial: Plotly's "parcoords" compiles
  // its WebGL shaders with new Function(), which the dashboard's CSP (no 'unsafe-eval') refuses.
  const VIRIDIS = [[68, 1, 84], [33, 145, 140], [253, 231, 37]];
  function shade(t) {
    const [a, b, u] = t < 0.5 ? [VIRIDIS[0], VIRIDIS[1], t * 2] : [VIRIDIS[1], VIRIDIS[2], (t - 0.5) * 2];
    return `rgb(${a.map((x, k) => Math.round(x + (b[k] - x) * u)).join(",")})`;
  }

  function spread(values) {
    const lo = Math.min(...values), hi = Math.max(...values);
    return values.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5));
  }

  function parallel() {
    const el = document.getElementById("parallel-plot");
    const p = data.parallel;
    if (!el) return;
    if (!p) { el.textContent = "No trial has a value yet."; return; }
    const axes = p.dimensions.map((d) => spread(d.values));
    const colour = spread(p.color).map((t) => (isAcc ? t : 1 - t));  // the best trial brightest
    const shown = (d, i) => (d.ticktext ? d.ticktext[d.values[i]] : Number(d.values[i]).toPrecision(3));
    const traces = p.color.map((_, i) => ({
      type: "scatter", mode: "lines+markers", showlegend: false,
      x: p.dimensions.map((_, k) => k), y: axes.map((axis) => axis[i]),
      line: { color: shade(colour[i]), width: 2 }, marker: { color: shade(colour[i]), size: 6 },
      text: p.dimensions.map((d) => `${d.label}: ${shown(d, i)}`), hovertemplate: "%{text}<extra></extra>",
    }));
    charts.draw(el, traces, Object.assign({}, base, {
      margin: { l: 40, r: 40, t: 40, b: 60 },
      xaxis: { tickvals: p.dimensions.map((_, k) => k), ticktext: p.dimensions.map((d) => d.label), zeroline: false },
      yaxis: { range: [-0.05, 1.05], showticklabels: false, title: { text: "low → high on each axis" }, zeroline: false },
    }));
  }

  // Live: while the sweep runs, reload when a trial changes state or value (the server renders the page).
  async function follow() {
    if (data.state !== "running") return;
    const rows = (selector, key) => Array.from(document.querySelectorAll(selector)).map((r) => r.dataset[key]).join(";");
    const states = rows("#trials-table tbody tr", "state") + "|" + rows("#repeats-table tbody tr", "states");
    try {
      const response = await fetch(`/api/sweeps/${data.id}`, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const sweep = await response.json();
        const now = sweep.trials.map((t) => t.state).join(";") + "|" + sweep.repeats.map((r) => r.states.join()).join(";");
        if (now !== states || sweep.state !== data.state) { window.location.reload(); return; }
      }
    } catch (err) { /* the server may be restarting: look again later */ }
    window.setTimeout(follow, 5000);
  }

  bestSoFar();
  heatMap();
  parallel();
  window.setTimeout(follow, 5000);
})();
