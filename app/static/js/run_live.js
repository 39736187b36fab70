// Run page: draws the curves from the embedded data, then polls the API while the run is
// queued or running, so new epochs appear without a reload.
"use strict";

(function () {
  const charts = window.Stagewise.charts;
  const data = charts.pageData("run-data");
  if (!data) return;
  const FINISHED = new Set(["succeeded", "failed", "cancelled", "pruned"]);
  const live = (name) => document.querySelector(`[data-live="${name}"]`);
  const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(2)}%`);
  const fixed = (v, d) => (v === null || v === undefined ? "–" : v.toFixed(d));

  /** "2026-11-27 19:07" in UTC, as the server renders timestamps. */
  const stamp = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "–");

  function duration(seconds) {
    if (seconds === null) return "–";
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
  }

  /** Mean epoch time × epochs left (mirrors app/pages/progress.py: eta_from_epochs). */
  function eta(run, metrics) {
    if (!metrics.length || FINISHED.has(run.status)) return null;
    const mean = metrics.reduce((a, m) => a + m.seconds, 0) / metrics.length;
    return Math.max(run.epochs - metrics.length, 0) * mean;
  }

  function drawCurves(metrics) {
    const epochs = metrics.map((m) => m.epoch);
    const col = (key) => metrics.map((m) => m[key]);
    // The whole run's extent from the start, so the curves visibly fill it in.
    const common = { dtick: data.run.epochs <= 12 ? 1 : undefined, xRange: [0.5, data.run.epochs + 0.5] };
    const splits = [["train", 0], ["val", 1], ["test", 2]];
    charts.draw(
      document.getElementById("plot-acc"),
      splits.map(([s, i]) => charts.trace(`${s} acc`, epochs, col(`${s}_acc`), i)),
      charts.layout("accuracy", Object.assign({ yaxis: { tickformat: ".0%", range: [0, 1] } }, common))
    );
    charts.draw(
      document.getElementById("plot-loss"),
      splits.map(([s, i]) => charts.trace(`${s} loss`, epochs, col(`${s}_loss`), i)),
      charts.layout("loss (log scale)", Object.assign({ log: true }, common))
    );
    // Done epochs solid, the whole planned schedule dotted beneath them from the start.
    const planned = data.stages.filter((stage) => data.planned_lr[stage]).map((stage) => {
      const i = data.stages.indexOf(stage);
      const lrs = data.planned_lr[stage];
      return charts.trace(`${stage} (planned)`, lrs.map((_, e) => e), lrs.map((v) => (v > 0 ? v : null)), i, {
        mode: "lines", connectgaps: false, showlegend: false,
        line: { color: charts.PALETTE[i % charts.PALETTE.length], dash: "dot", width: 1.5 },
      });
    });
    charts.draw(
      document.getElementById("plot-lr"),
      planned.concat(data.stages.map((stage, i) => charts.trace(stage, epochs, metrics.map((m) => (m.lr[stage] > 0 ? m.lr[stage] : null)), i))),
      charts.layout("LR (log; dotted = plan, gap = frozen)", Object.assign({ log: true }, common))
    );
  }

  function epochRow(m) {
    const cells = [m.epoch + 1, fixed(m.train_loss, 4), pct(m.train_acc), fixed(m.val_loss, 4), pct(m.val_acc), pct(m.test_acc),
      Math.round(m.images_per_s).toLocaleString("en-US"), fixed(m.seconds, 1)];
    const tr = document.createElement("tr");
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }

  function showRun(run, metrics) {
    const badge = live("status");
    badge.textContent = run.status;
    badge.className = `status status-${run.status}`;
    live("cancelling").hidden = !run.cancel_requested || FINISHED.has(run.status);
    live("progress").value = run.epochs_done;
    live("epochs").textContent = `${run.epochs_done} / ${run.epochs}`;
    // Inside an epoch the worker's heartbeat says where it is (GET /api/runs/{id} `progress`).
    const p = run.status === "running" ? run.progress : null;
    live("step-progress").max = p ? p.steps : 1;
    live("step-progress").value = p ? p.step : 0;
    live("steps").textContent = p ? `epoch ${p.epoch + 1}: step ${p.step} / ${p.steps}` : "–";
    live("eta").textContent = duration(p && p.eta_s !== null ? p.eta_s : eta(run, metrics));
    const last = metrics[metrics.length - 1];
    const speed = p && p.images_per_s ? p.images_per_s : last ? last.images_per_s : null;
    live("speed").textContent = speed === null ? "–" : Math.round(speed).toLocaleString("en-US");
    live("best-val").textContent = pct(run.best_val_acc);
    live("test-acc-last").textContent = pct(run.summary ? run.summary.final_test_acc : null);
    live("test-acc").textContent = pct(run.summary ? run.summary.test_acc_at_best_val : null);
    live("error").hidden = !run.error;
    live("error-text").textContent = run.error || "";
    live("cancel").hidden = FINISHED.has(run.status) || run.cancel_requested;
    live("checkpoint").hidden = !(run.artifacts || []).some((a) => a.kind === "best");
    live("epoch-count").textContent = metrics.length;
    live("host").textContent = (run.worker_host || "–") + (run.gpu ? ` · device ${run.gpu}` : "");
    live("started").textContent = stamp(run.started_at);
    live("finished").textContent = stamp(run.finished_at);
    document.querySelector("#epoch-table tbody").replaceChildren(...metrics.map(epochRow));
  }

  /** A finished run's test report (per-class table, confusion matrix) as the server renders it. */
  async function showTestReport() {
    try {
      const res = await fetch(window.location.pathname, { headers: { Accept: "text/html" } });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = doc.querySelector('[data-live="test-report"]');
      if (fresh) live("test-report").replaceWith(document.importNode(fresh, true));
    } catch (err) {
      // The report stays one reload away.
    }
  }

  /** Merge newly fetched epochs by epoch number: a resumed run re-records its last epoch. */
  function merge(known, fresh) {
    const byEpoch = new Map(known.map((m) => [m.epoch, m]));
    fresh.forEach((m) => byEpoch.set(m.epoch, m));
    return Array.from(byEpoch.values()).sort((a, b) => a.epoch - b.epoch);
  }

  async function poll() {
    try {
      // Only the last known epoch and newer: a 100-epoch run is not re-sent every tick.
      const last = data.metrics.length ? data.metrics[data.metrics.length - 1].epoch : 0;
      const [runRes, metricsRes] = await Promise.all([
        fetch(`/api/runs/${data.run.id}`),
        fetch(`/api/runs/${data.run.id}/metrics?after=${last - 1}`),
      ]);
      if (runRes.ok && metricsRes.ok) {
        const run = await runRes.json();
        const fresh = await metricsRes.json();
        const metrics = merge(data.metrics, fresh);
        const changed = fresh.length !== 0 && JSON.stringify(fresh) !== JSON.stringify(data.metrics.slice(-fresh.length));
        data.metrics = metrics;
        if (changed) drawCurves(metrics);
        showRun(run, metrics);
        if (FINISHED.has(run.status)) return showTestReport(); // nothing more will change
      }
    } catch (err) {
      // The server restarting is normal on a lab machine: keep polling.
    }
    setTimeout(poll, data.poll_ms);
  }

  drawCurves(data.metrics);
  if (!FINISHED.has(data.run.status)) setTimeout(poll, data.poll_ms);
})();
