// Run page, "Use the model": drop images (or choose files) to see, for each, the best
// checkpoint's top 5 classes and a Grad-CAM heat map, from POST /api/runs/{id}/predict.
// Images go `data-batch` at a time (the server's max_predict_files), in the order given.
"use strict";

(function () {
  const panel = document.getElementById("predict-panel");
  if (!panel) return;
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("predict-file");
  const error = document.getElementById("predict-error");
  const status = document.getElementById("predict-status");
  const results = document.getElementById("predictions");
  const card = document.getElementById("prediction-card");
  const batch = Math.max(1, Number(panel.dataset.batch) || 1);
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  /** The API's error detail as one line: a string, or FastAPI's list of {loc, msg}. */
  function message(body, status) {
    const detail = body && body.detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
    return detail || `the server answered ${status}`;
  }

  /** One image's card: its heat map and its top classes, from the page's <template>. */
  function render(prediction) {
    const item = card.content.firstElementChild.cloneNode(true);
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
    item.querySelector("caption").textContent = `Top ${prediction.top.length} classes: ${prediction.file}`;
    item.querySelector("tbody").replaceChildren(...rows);
    const heatmap = item.querySelector("img.heatmap");
    const top = prediction.top[0].name;
    if (prediction.heatmap_png) {
      heatmap.src = `data:image/png;base64,${prediction.heatmap_png}`;
      heatmap.alt = `Grad-CAM heat map of "${top}" over ${prediction.file}`;
    } else {
      heatmap.remove();
    }
    item.querySelector("figcaption").textContent = prediction.heatmap_png
      ? `${prediction.file}: where the model found "${top}"`
      : `${prediction.file}: no heat map for this backbone`;
    return item;
  }

  async function predict(files) {
    const form = new FormData();
    files.forEach((file) => form.append("files", file, file.name));
    form.append("top_k", "5");
    form.append("heatmap", "true");
    const response = await fetch(`/api/runs/${panel.dataset.runId}/predict`, {
      method: "POST", body: form, headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(message(body, response.status));
    return body.predictions;
  }

  async function classify(files) {
    if (!files.length) return;
    error.textContent = "";
    results.replaceChildren();
    zone.classList.add("busy");
    try {
      for (let start = 0; start < files.length; start += batch) {
        status.textContent = `Classifying ${files.length} image${files.length === 1 ? "" : "s"}: ${start} done…`;
        const predictions = await predict(files.slice(start, start + batch));
        results.append(...predictions.map(render));
      }
      status.textContent = `${files.length} image${files.length === 1 ? "" : "s"} classified.`;
    } catch (failure) {
      status.textContent = "";
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
    classify(Array.from(event.dataTransfer.files));
  });
  input.addEventListener("change", () => classify(Array.from(input.files)));
})();
