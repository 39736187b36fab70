// Run page, "Use the model": drop an image (or choose a file) to see the best checkpoint's
// top 5 classes and a Grad-CAM heat map over the image, from POST /api/runs/{id}/predict.
"use strict";

(function () {
  const panel = document.getElementById("predict-panel");
  if (!panel) return;
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("predict-file");
  const error = document.getElementById("predict-error");
  const result = document.getElementById("prediction");
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  /** The API's error detail as one line: a string, or FastAPI's list of {loc, msg}. */
  function message(body, status) {
    const detail = body && body.detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
    return detail || `the server answered ${status}`;
  }

  function show(prediction) {
    const rows = prediction.top.map((c) => {
      const row = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = c.name;
      const probability = document.createElement("td");
      probability.className = "num";
      probability.textContent = `${(100 * c.probability).toFixed(1)}%`;
      row.append(name, probability);
      return row;
    });
    document.querySelector("#top-classes tbody").replaceChildren(...rows);
    const heatmap = document.getElementById("heatmap");
    heatmap.hidden = !prediction.heatmap_png;
    if (prediction.heatmap_png) heatmap.src = `data:image/png;base64,${prediction.heatmap_png}`;
    document.getElementById("heatmap-caption").textContent = prediction.heatmap_png
      ? `${prediction.file}: where the model found "${prediction.top[0].name}"`
      : `${prediction.file}: no heat map for this backbone`;
    result.hidden = false;
  }

  async function classify(file) {
    error.textContent = "";
    zone.classList.add("busy");
    const form = new FormData();
    form.append("files", file, file.name);
    form.append("top_k", "5");
    form.append("heatmap", "true");
    try {
      const response = await fetch(`/api/runs/${panel.dataset.runId}/predict`, {
        method: "POST", body: form, headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new Error(message(body, response.status));
      show(body.predictions[0]);
    } catch (failure) {
      result.hidden = true;
      error.textContent = failure.message;
    } finally {
      zone.classList.remove("busy");
    }
  }

  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) classify(file);
  });
  input.addEventListener("change", () => {
    if (input.files[0]) classify(input.files[0]);
  });
})();
