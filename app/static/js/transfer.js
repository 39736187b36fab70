// Transfer matrix: while evaluations are queued or running, reload the page every 3 s so
// the cells fill in (the table is server-rendered; no inline script: data from #transfer-data).
// "Matrix as PNG" draws the same matrix as a Plotly heatmap off screen and downloads it, as
// Compare's "Plot as PNG" does for its curves.
(function () {
  "use strict";
  const data = document.getElementById("transfer-data");
  if (!data) return;
  const state = JSON.parse(data.textContent);
  if (state.pending) {
    window.setTimeout(function () { window.location.reload(); }, 3000);
  }

  /** The export's pixel size: a column per dataset, a row per run, room for labels and the colour bar. */
  function exportSize(matrix) {
    return {
      width: Math.min(2400, Math.max(640, 320 + 160 * matrix.columns.length)),
      height: Math.min(2400, Math.max(360, 200 + 56 * matrix.rows.length)),
    };
  }

  /** A Plotly figure of the matrix: white → blue by accuracy, the number written, own test splits outlined. */
  function figure(matrix) {
    const charts = window.Stagewise.charts;
    const fg = charts.cssVar("--fg") || "#1f2328";
    const bg = charts.cssVar("--bg") || "#ffffff";
    const text = matrix.accuracy.map((line) => line.map((a) => (a === null ? "" : (100 * a).toFixed(2) + "%")));
    const own = [];
    matrix.own.forEach((line, y) => line.forEach((isOwn, x) => {
      if (isOwn) own.push({ type: "rect", x0: x - 0.5, x1: x + 0.5, y0: y - 0.5, y1: y + 0.5, line: { color: fg, width: 3 } });
    }));
    const axis = (labels) => ({ tickvals: labels.map((_, i) => i), ticktext: labels, automargin: true, showgrid: false, zeroline: false });
    const heatmap = {
      type: "heatmap", z: matrix.accuracy, text: text, texttemplate: "%{text}", zmin: 0, zmax: 1,
      colorscale: [[0, bg], [1, "rgb(11, 92, 173)"]], xgap: 1, ygap: 1, hoverongaps: false,
      colorbar: { title: { text: "accuracy" }, tickformat: ".0%" },
    };
    const layout = {
      title: { text: "Accuracy of each run on each dataset (outlined: own test split)" },
      xaxis: Object.assign(axis(matrix.columns), { side: "top" }),
      yaxis: Object.assign(axis(matrix.rows), { autorange: "reversed" }),
      shapes: own, margin: { l: 24, r: 24, t: 96, b: 24 },
      font: { family: "system-ui, sans-serif", size: 13, color: fg }, paper_bgcolor: bg, plot_bgcolor: bg,
    };
    return { data: [heatmap], layout: layout };
  }

  const button = document.getElementById("transfer-png");
  if (button && state.matrix) {
    button.addEventListener("click", function () {
      const size = exportSize(state.matrix);
      window.Plotly.downloadImage(figure(state.matrix), {
        format: "png", filename: "transfer-" + state.ids.split(",").join("-"), width: size.width, height: size.height,
      });
    });
  }
})();
