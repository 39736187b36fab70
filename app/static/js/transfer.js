// Transfer matrix: while evaluations are queued or running, reload the page every 3 s so
// the cells fill in (the table is server-rendered; no inline script: data from #transfer-data).
(function () {
  "use strict";
  const data = document.getElementById("transfer-data");
  if (!data) return;
  const state = JSON.parse(data.textContent);
  if (state.pending) {
    window.setTimeout(function () { window.location.reload(); }, 3000);
  }
})();
