// New run form: stage LR editor, quick fills, live LR preview (POST /runs/new/plan), and
// submission (POST /runs/new, as JSON) with each 422 error shown beside the field it names.
// Without JavaScript the same form posts to /runs/new and gets a page back.
"use strict";

(function () {
  const form = document.getElementById("run-form");
  if (!form) return;
  const charts = window.Stagewise.charts;
  const catalog = charts.pageData("catalog-data");
  // Every state-changing request carries the page's CSRF token (see app/api/guard.py).
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;
  const tbody = document.querySelector("#stage-table tbody");
  const rowTemplate = document.getElementById("stage-row-template");

  // ---- the form's fields, sent as they are ----
  // The server turns them into a config (app/pages/run_form.py: config_from_form), for this
  // script and for the no-JavaScript submit alike: the mapping lives there only.
  function formBody() {
    return new URLSearchParams(new FormData(form));
  }

  async function postForm(url) {
    return fetch(url, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
      body: formBody(),
    });
  }

  function stageNames() {
    return Array.from(tbody.querySelectorAll("tr[data-stage]")).map((tr) => tr.dataset.stage);
  }

  // ---- errors beside fields ----
  function clearErrors() {
    form.querySelectorAll("[data-error-for]").forEach((p) => (p.textContent = ""));
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    const banner = document.getElementById("form-error");
    banner.hidden = true;
    banner.textContent = "";
  }

  /** Show one error at the closest field: `stages.conv1.lr` lands in the conv1 row. */
  function showError(path, message) {
    let key = path;
    let target = null;
    while (key && !(target = form.querySelector(`[data-error-for="${CSS.escape(key)}"]`))) {
      key = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
    }
    if (!target) {
      const banner = document.getElementById("form-error");
      banner.textContent = (banner.textContent ? banner.textContent + " " : "") + (path ? `${path}: ` : "") + message;
      banner.hidden = false;
      return;
    }
    target.textContent = target.textContent ? `${target.textContent}; ${message}` : message;
    form.querySelectorAll(`[name="${CSS.escape(path)}"], [name^="${CSS.escape(key)}."]`).forEach((el) => el.setAttribute("aria-invalid", "true"));
    const input = form.querySelector(`[name="${CSS.escape(path)}"]`) || form.querySelector(`[name^="${CSS.escape(key)}."]`) || form.querySelector(`[name="${CSS.escape(key)}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
  }

  /** Show a 422 body's errors; move focus to the first only after an explicit submit. */
  function showApiErrors(body, focus) {
    const detail = Array.isArray(body.detail) ? body.detail : [{ loc: [], msg: String(body.detail || "request failed") }];
    detail.forEach((err) => {
      const loc = (err.loc || []).map(String);
      while (loc.length && (loc[0] === "body" || loc[0] === "config")) loc.shift();
      showError(loc.join("."), String(err.msg));  // the server cleaned the message
    });
    const first = form.querySelector("[aria-invalid='true']");
    if (focus && first) first.focus();
  }

  // ---- submit: "Start run" makes a run, the Sweep… panel's "Create sweep" a sweep ----
  // Both post the same fields; the server maps the panel to a sweep spec (app/pages/sweep_form.py)
  // and answers with the sweep or errors whose `loc` names the panel's inputs.
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(timer); // a preview answering after this submit would clear its errors
    latest++;
    clearErrors();
    const sweep = event.submitter && event.submitter.id === "submit-sweep";
    const button = sweep ? event.submitter : document.getElementById("submit-run");
    button.disabled = true;
    try {
      const res = await postForm(sweep ? "/sweeps/new" : "/runs/new");
      const body = await res.json().catch(() => ({ detail: res.statusText }));
      if (res.status === 201) {
        window.location.assign(sweep ? `/sweeps/${body.id}` : `/runs/${body.id}`);
        return;
      }
      showApiErrors(body, true);
    } catch (err) {
      showError("", `Could not reach the server: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });

  // ---- dataset and backbone switches ----
  // `chosen`: the user picked another dataset, so its documented default split replaces the old one.
  function syncDataset(chosen) {
    const name = form.elements["dataset.name"].value;
    const spec = catalog.datasets[name];
    form.querySelectorAll("fieldset[data-split]").forEach((fs) => {
      const on = fs.dataset.split === spec.split;
      fs.disabled = !on;
      fs.hidden = !on;
    });
    form.querySelectorAll("fieldset[data-dataset]").forEach((fs) => {
      const on = fs.dataset.dataset === spec.fields; // an upload fills no dataset-specific field
      fs.disabled = !on;
      fs.hidden = !on;
    });
    if (spec.split === "fractions" && spec.fractions) {
      ["train", "val", "test"].forEach((k, i) => {
        const el = form.elements[`dataset.fractions.${k}`];
        if (el.value === "" || chosen === true) el.value = spec.fractions[i];
      });
    }
    const hint = document.getElementById("f-dataset-name-hint");
    if (hint) hint.textContent = spec.description;
  }

  /** Replace the rows of `body` (keyed by `attr`) with one per stage, keeping those both backbones share. */
  function syncRows(body, attr, template, names) {
    const old = {};
    body.querySelectorAll(`tr[${attr}]`).forEach((tr) => (old[tr.getAttribute(attr)] = tr));
    body.replaceChildren(
      ...names.map((name) => {
        if (old[name]) return old[name];
        const holder = document.createElement("tbody");
        holder.innerHTML = template.innerHTML.replaceAll("__STAGE__", name);
        return holder.firstElementChild;
      })
    );
  }

  function syncBackbone() {
    const backbone = catalog.backbones[form.elements["backbone"].value];
    syncRows(document.querySelector("#sweep-table tbody"), "data-sweep-stage", document.getElementById("sweep-row-template"), backbone.stages);
    form.elements["sweep.freeze_through.choices"].value = ["none", ...featureStages(backbone.stages)].join(", ");
    const imagenet = form.elements["weights"].querySelector('option[value="imagenet"]');
    if (imagenet) imagenet.textContent = backbone.imagenet; // whether this server has its weights
    const names = backbone.stages;
    const old = {};
    tbody.querySelectorAll("tr[data-stage]").forEach((tr) => (old[tr.dataset.stage] = tr));
    tbody.replaceChildren(
      ...names.map((name) => {
        if (old[name]) return old[name]; // keep what was typed for stages both backbones share
        const holder = document.createElement("tbody");
        holder.innerHTML = rowTemplate.innerHTML.replaceAll("__STAGE__", name);
        return holder.firstElementChild;
      })
    );
  }

  // ---- quick fills ----
  const featureStages = (names) => names.slice(0, -1); // the last stage is the head
  function baseLr() {
    const v = Number(form.elements["optimizer.lr"].value);
    return Number.isFinite(v) && v > 0 ? v : 0.01;
  }

  function fillStages(lrs) {
    tbody.querySelectorAll("tr[data-stage]").forEach((tr) => {
      const lr = lrs[tr.dataset.stage];
      if (lr === undefined) return;
      tr.querySelector('[name$=".mode"]').value = "lr";
      tr.querySelector('[name$=".frozen"]').checked = lr === 0;
      const value = tr.querySelector('[name$=".value"]');
      value.disabled = lr === 0;
      value.value = lr === 0 ? "" : Number(lr.toPrecision(6));
      tr.querySelector('[name$=".unfreeze_epoch"]').value = 1;
    });
  }

  const FILLS = {
    same: (names, lr) => Object.fromEntries(names.map((n) => [n, lr])),
    // Pretrained features barely move, the new head learns fast (the reference Model C: 1e-4 / 1e-1).
    "features-low": (names, lr) => Object.fromEntries(names.map((n, i) => [n, i === names.length - 1 ? lr : lr / 1000])),
    // Head at the base LR, later features ÷10, earlier features ÷100 (the reference Model D's shape).
    discriminative: (names, lr) => {
      const feats = featureStages(names);
      const early = Math.ceil(feats.length / 2);
      return Object.fromEntries(names.map((n, i) => [n, i === names.length - 1 ? lr : i < early ? lr / 100 : lr / 10]));
    },
  };

  document.querySelector(".quick-fills").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-fill]");
    if (!button) return;
    const kind = button.dataset.fill;
    const lrs = kind === "preset" ? JSON.parse(button.dataset.stages) : FILLS[kind](stageNames(), baseLr());
    fillStages(lrs);
    // A reference model is its stage LRs *and* its starting point (Model A trains from scratch).
    if (button.dataset.weights) form.elements["weights"].value = button.dataset.weights;
    schedulePreview();
  });

  // ---- live preview of LR per stage over epochs ----
  const preview = document.getElementById("lr-preview");
  const summary = document.getElementById("plan-summary");
  let timer = null;
  let latest = 0;

  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(updatePreview, 250); // debounce typing
  }

  function drawPlan(plan) {
    window.Stagewise.lrPreview.draw(preview, plan); // lr_preview.js: ramps, frozen strips, shared lines
    plan.stages.forEach((s) => {
      const cell = tbody.querySelector(`tr[data-stage="${CSS.escape(s.name)}"] [data-params]`);
      if (cell) cell.textContent = s.params.toLocaleString("en-US");
    });
    const pct = plan.total_params ? (100 * plan.trainable_params) / plan.total_params : 0;
    summary.textContent = `${plan.trainable_params.toLocaleString("en-US")} of ${plan.total_params.toLocaleString("en-US")} parameters train (${pct.toFixed(1)}%), ${plan.num_classes} classes, ${plan.epochs} epochs.`;
  }

  async function updatePreview() {
    const ticket = ++latest;
    try {
      const res = await postForm("/runs/new/plan");
      if (ticket !== latest) return; // a newer edit is already on its way
      const body = await res.json();
      clearErrors();
      if (res.ok) drawPlan(body);
      else {
        showApiErrors(body, false); // typing must not lose focus
        summary.textContent = "No preview until the errors above are fixed.";
      }
    } catch (err) {
      summary.textContent = `Preview unavailable: ${err.message}`;
    }
  }

  // ---- wiring ----
  tbody.addEventListener("change", (event) => {
    if (event.target.name && event.target.name.endsWith(".frozen")) {
      const value = event.target.closest("tr").querySelector('[name$=".value"]');
      value.disabled = event.target.checked;
    }
  });
  form.elements["dataset.name"].addEventListener("change", () => syncDataset(true));
  form.elements["backbone"].addEventListener("change", syncBackbone);
  form.addEventListener("input", schedulePreview);
  form.addEventListener("change", schedulePreview);
  syncDataset();
  updatePreview();

  window.Stagewise.runForm = { formBody, clearErrors, showApiErrors, schedulePreview };
})();
