// Shared chart helpers for the dashboard: one colour-blind-safe palette and plot defaults.
// Loaded after plotly.js (served from the installed plotly package at /vendor/plotly.min.js).
"use strict";

window.Stagewise = window.Stagewise || {};

(function (ns) {
  // Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies. Yellow is
  // last because it is faint on white; beyond 8 curves the dash pattern changes too, and every
  // curve has its own marker symbol, so no two curves differ by colour alone.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"];
  const DASHES = ["solid", "dash", "dot", "dashdot"];
  const SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "star"];

  const dark = () => window.matchMedia("(prefers-color-scheme: dark)").matches;
  /** A colour the stylesheet defines (dashboard.css), so plots follow the light or dark theme. */
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  /** The i-th curve's colour; Okabe–Ito's black becomes the theme's text colour on a dark page. */
  function colour(i) {
    const c = PALETTE[i % PALETTE.length];
    return c === "#000000" && dark() ? cssVar("--fg") : c;
  }

  /** Line + marker style of the i-th curve. */
  function curveStyle(i) {
    return {
      line: { color: colour(i), dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length], width: 2 },
      marker: { color: colour(i), symbol: SYMBOLS[i % SYMBOLS.length], size: 6 },
    };
  }

  /** A line trace over epochs (x is 1-based for people; records are 0-based). */
  function trace(name, epochs, values, i, extra) {
    return Object.assign(
      { type: "scatter", mode: "lines+markers", name: name, x: epochs.map((e) => e + 1), y: values, connectgaps: true },
      curveStyle(i),
      extra || {}
    );
  }

  /** Plot layout: legend above the plot (never over the axis title), epochs on x, the page's colours. */
  function layout(yTitle, opts) {
    const o = opts || {};
    const grid = { gridcolor: cssVar("--border"), zerolinecolor: cssVar("--border"), linecolor: cssVar("--border") };
    return {
      margin: { l: 64, r: 16, t: 8, b: 44 },
      xaxis: Object.assign({ title: { text: "epoch" }, dtick: o.dtick, range: o.xRange, autorange: o.xRange ? false : true }, grid),
      yaxis: Object.assign({ title: { text: yTitle }, type: o.log ? "log" : "linear", exponentformat: "e" }, grid, o.yaxis || {}),
      legend: { orientation: "h", x: 0, y: 1.02, xanchor: "left", yanchor: "bottom" },
      hovermode: "x unified",
      font: { family: "system-ui, sans-serif", size: 12, color: cssVar("--fg") },
      paper_bgcolor: cssVar("--bg"),
      plot_bgcolor: cssVar("--bg"),
      hoverlabel: { bgcolor: cssVar("--bg-soft"), font: { color: cssVar("--fg") } },
    };
  }

  const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  /** Draw or update a plot in place (Plotly.react keeps zoom state where it can). */
  function draw(el, traces, lay) {
    return window.Plotly.react(el, traces, lay, CONFIG);
  }

  /** Parse the JSON a page embedded in <script type="application/json" id=...>. */
  function pageData(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  ns.charts = { PALETTE, colour, cssVar, curveStyle, trace, layout, draw, pageData };
})(window.Stagewise);
