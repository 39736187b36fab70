// Runs page: confirm deletes, enable the bulk bar's buttons for the selection, and refresh the table body
// while some run is queued or running, so progress bars move without a reload.
"use strict";

(function () {
  const table = document.getElementById("runs-table");
  if (!table) return;
  const bulkButtons = Array.from(document.querySelectorAll("#bulk-form button[data-needs]"));
  const count = document.getElementById("selection-count");
  const REFRESH_MS = 5000;

  function selected() {
    return Array.from(document.querySelectorAll('input[name="ids"]:checked')).map((el) => el.value);
  }

  function syncSelection() {
    const n = selected().length;
    bulkButtons.forEach((button) => (button.disabled = n < Number(button.dataset.needs)));
    count.textContent = n ? `${n} selected` : "tick runs to tag, cancel or delete them; two or more to compare";
  }

  document.addEventListener("submit", (event) => {
    // The bulk bar asks only for its Delete button; a row's Delete form asks for itself.
    const message = (event.submitter && event.submitter.dataset.confirm) || event.target.dataset.confirm;
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
