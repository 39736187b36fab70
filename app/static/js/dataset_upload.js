// Upload page: ask the server whether the name is free before the archive is sent, so a taken
// or invalid name costs no upload and the chosen file stays selected.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const name = form.elements["name"];
  const error = document.getElementById("err-name");
  let approved = null; // the name the server last called free

  function show(message) {
    error.textContent = message;
    if (message) name.setAttribute("aria-invalid", "true");
    else name.removeAttribute("aria-invalid");
  }

  async function check() {
    const value = name.value;
    try {
      const res = await fetch(`/api/datasets/name-check?name=${encodeURIComponent(value)}`, {
        headers: { Accept: "application/json" },
      });
      const body = await res.json();
      if (!res.ok) return true; // let the server's own checks answer
      show(body.status === "free" ? "" : body.message);
      if (body.status === "free") approved = value;
      return body.status === "free";
    } catch (err) {
      return true; // offline check failed: the upload itself still checks the name
    }
  }

  name.addEventListener("change", check);
  form.addEventListener("submit", async (event) => {
    if (approved !== null && approved === name.value) return;
    event.preventDefault();
    if (await check()) form.submit();
    else name.focus();
  });
})();
