// Runs page: confirm deletes, count the selection for Compare, and refresh the table body
// while some run is queued or running, so progress bars move without a reload.
"use strict";

(function () {
  const table = document.getElementById("runs-table");
  if (!table) return;
  const compareButton = document.getElementById("compare-selected");
  const count = document.getElementById("selection-count");
  const REFRESH_MS = 5000;

  function selected() {
    return Array.from(document.querySelectorAll('input[name="ids"]:checked')).map((el) => el.value);
  }

  function syncSelection() {
    const n = selected().length;
    compareButton.disabled = n < 2;
    count.textContent = n ? `${n} selected` : "select two or more runs to compare";
  }

  document.addEventListener("submit", (event) => {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  document.addEventListener("change", (event) => {
    if (event.target.name === "ids") syncSelection();
  });

  async function refresh() {
    if (!table.querySelector('tr[data-status="running"], tr[data-status="queued"]')) return;
    try {
      const res = await fetch(window.location.href, { headers: { Accept: "text/html" } });
      if (res.ok) {
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        const fresh = doc.querySelector("#runs-table tbody");
        const keep = new Set(selected());
        // Don't swap the rows under a keyboard user's focus.
        if (fresh && !table.tBodies[0].contains(document.activeElement)) {
          fresh.querySelectorAll('input[name="ids"]').forEach((el) => (el.checked = keep.has(el.value)));
          table.tBodies[0].replaceWith(fresh);
          syncSelection();
        }
      }
    } catch (err) {
      // A restarting server is normal; try again on the next tick.
    }
    setTimeout(refresh, REFRESH_MS);
  }

  syncSelection();
  setTimeout(refresh, REFRESH_MS);
})();
