// Compare page: overlaid curves of several runs, a metric selector, and image export.
"use strict";

(function () {
  const charts = window.Stagewise.charts;
  const data = charts.pageData("compare-data");
  const plot = document.getElementById("compare-plot");
  const select = document.getElementById("metric");
  if (!data || !plot) return;

  // Give each table row's swatch its curve's colour and dash, so the table is the legend too.
  document.querySelectorAll("[data-curve]").forEach((el) => {
    const style = charts.curveStyle(Number(el.dataset.curve)).line;
    el.style.borderTopColor = style.color;
    el.style.borderTopStyle = style.dash === "solid" ? "solid" : "dashed";
  });

  function draw() {
    const key = select.value;
    const label = select.options[select.selectedIndex].text;
    const traces = data.runs.map((run, i) => charts.trace(run.label, run.epochs, run.metrics[key], i));
    const isAcc = key.endsWith("_acc");
    const longest = Math.max(0, ...data.runs.map((run) => run.epochs.length));
    const lay = charts.layout(label, { dtick: longest <= 12 ? 1 : undefined, yaxis: isAcc ? { tickformat: ".0%" } : {} });
    // The legend wraps above the plot: give each run beyond a few a line of height, so 20 runs
    // still leave a plot worth reading.
    lay.height = 440 + 18 * Math.max(0, data.runs.length - 4);
    if (longest === 0) {
      // Nothing to autorange over: plain axes and a word on what will appear, not Plotly's -1…6 / -100…400 %.
      Object.assign(lay.xaxis, { range: [1, 2], autorange: false });
      Object.assign(lay.yaxis, { range: [0, 1], autorange: false });
      lay.annotations = [{ text: "No finished epochs yet: the curves appear as the runs train (reload the page).",
        showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
    }
    charts.draw(plot, traces, lay);
    const url = new URL(window.location.href);
    url.searchParams.set("metric", key);
    const kept = document.querySelector('input[type="hidden"][name="metric"]');
    if (kept) kept.value = key; // the baseline form keeps the chosen metric too
    window.history.replaceState(null, "", url); // a shared link opens on the same metric
  }

  document.querySelectorAll("[data-export]").forEach((button) =>
    button.addEventListener("click", () =>
      window.Plotly.downloadImage(plot, { format: button.dataset.export, filename: `compare-${select.value}`, width: 1200, height: 600 })
    )
  );
  select.addEventListener("change", draw);
  draw();
})();
