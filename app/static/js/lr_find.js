// New run page, "LR range test": queue the form's config as a job on the workers
// (POST /runs/new/lr-find), poll /api/lr-finds/{id}, plot the smoothed loss over the base LR
// with the suggestion, then "Use suggestion" (base LR, stage ratios kept) or "Seed a sweep's
// ranges" (each training stage's LR at the suggestion ÷ 10 … × 10, in the Sweep… panel).
"use strict";

(function () {
  const panel = document.getElementById("lr-find-panel");
  const form = document.getElementById("run-form");
  if (!panel || !form || !window.Stagewise.runForm) return;
  panel.hidden = false; // the test needs this script: without it the panel stays hidden
  const runForm = window.Stagewise.runForm;
  const charts = window.Stagewise.charts;
  const status = document.getElementById("lr-find-status");
  const plot = document.getElementById("lr-find-plot");
  const actions = document.getElementById("lr-find-actions");
  const button = document.getElementById("lr-find-run");
  const POLL_MS = 1500;
  let job = null;

  const fmt = (v) => Number(v.toPrecision(3)).toString();

  async function start() {
    runForm.clearErrors();
    button.disabled = true;
    actions.hidden = true;
    status.textContent = "Queueing the LR range test…";
    try {
      const res = await fetch("/runs/new/lr-find", {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content },
        body: runForm.formBody(),
      });
      const body = await res.json().catch(() => ({ detail: res.statusText }));
      if (res.status !== 201) {
        runForm.showApiErrors(body, true);
        status.textContent = "Not started: see the errors above.";
        button.disabled = false;
        return;
      }
      poll(body.id);
    } catch (err) {
      status.textContent = `Could not reach the server: ${err.message}`;
      button.disabled = false;
    }
  }

  async function poll(id) {
    const res = await fetch(`/api/lr-finds/${id}`, { headers: { Accept: "application/json" } });
    const body = await res.json();
    if (!res.ok) {
      status.textContent = `The test is gone: ${body.detail || res.statusText}`;
      button.disabled = false;
      return;
    }
    if (body.state === "queued" || body.state === "running") {
      status.textContent = body.state === "queued" ? "Waiting for a worker…" : `Running ${body.steps} steps on a worker…`;
      setTimeout(() => poll(id), POLL_MS);
      return;
    }
    button.disabled = false;
    if (body.state === "failed") {
      status.textContent = `The test failed: ${body.error}`;
      return;
    }
    job = body;
    show(body);
  }

  function show(found) {
    const r = found.result;
    const ended = r.diverged ? "the loss exploded" : "the last LR was reached";
    status.textContent = r.suggestion === null
      ? `${r.lrs.length} steps (${ended}); no suggestion: the loss never fell. Widen the range or add steps.`
      : `${r.lrs.length} steps (${ended}). Suggested base LR ${fmt(r.suggestion)} (valley)` +
        (r.steepest !== null ? `; steepest descent at ${fmt(r.steepest)}.` : ".");
    status.dataset.suggestion = r.suggestion === null ? "" : String(r.suggestion);
    plot.hidden = false;
    const finite = r.smoothed.filter((v) => v !== null);
    const top = Math.min(2 * finite[0], Math.max(...finite)); // clip the explosion, as the CLI's PNG does
    const lay = charts.layout("loss", { yaxis: { range: [Math.min(...finite) * 0.95, top * 1.05], autorange: false } });
    lay.xaxis = Object.assign(lay.xaxis, { title: { text: "base LR" }, type: "log", exponentformat: "e" });
    lay.hovermode = "closest";
    lay.shapes = r.suggestion === null ? [] : [{ type: "line", xref: "x", yref: "paper", x0: r.suggestion, x1: r.suggestion, y0: 0, y1: 1, line: { color: charts.colour(5), dash: "dash" } }];
    lay.annotations = r.suggestion === null ? [] : [{ x: Math.log10(r.suggestion), xref: "x", y: 1, yref: "paper", text: `suggestion ${fmt(r.suggestion)}`, showarrow: false, yanchor: "bottom" }];
    charts.draw(plot, [
      Object.assign({ type: "scatter", mode: "lines", name: "loss", x: r.lrs, y: r.losses, opacity: 0.35 }, charts.curveStyle(4)),
      Object.assign({ type: "scatter", mode: "lines", name: "smoothed loss", x: r.lrs, y: r.smoothed }, charts.curveStyle(0)),
    ], lay);
    actions.hidden = r.suggestion === null;
  }

  /** The suggestion as the base LR; stages with an absolute LR keep their ratio to it. */
  function useSuggestion() {
    const r = job.result;
    const scale = r.suggestion / job.base_lr;
    form.elements["optimizer.lr"].value = fmt(r.suggestion);
    form.querySelectorAll("#stage-table tr[data-stage]").forEach((tr) => {
      const mode = tr.querySelector('[name$=".mode"]').value;
      const value = tr.querySelector('[name$=".value"]');
      if (mode === "lr" && value.value !== "" && !value.disabled) value.value = fmt(Number(value.value) * scale);
    });
    runForm.schedulePreview();
  }

  /** Each stage that trained in the test gets a sweep range around its LR at the suggestion. */
  function seedSweep() {
    const lrs = job.result.stage_lrs;
    document.getElementById("sweep-panel").open = true;
    document.querySelectorAll("#sweep-table tr[data-sweep-stage]").forEach((tr) => {
      const lr = lrs[tr.dataset.sweepStage];
      if (!lr) return; // frozen in the test
      tr.querySelector('[name$=".on"]').checked = true;
      tr.querySelector('[name$=".log"]').checked = true;
      tr.querySelector('[name$=".low"]').value = fmt(lr / 10);
      tr.querySelector('[name$=".high"]').value = fmt(lr * 10);
    });
    document.getElementById("sweep-panel").scrollIntoView({ block: "start" });
  }

  button.addEventListener("click", start);
  document.getElementById("lr-find-use").addEventListener("click", useSuggestion);
  document.getElementById("lr-find-seed").addEventListener("click", seedSweep);
})();
