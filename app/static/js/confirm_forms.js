// Forms with data-confirm ask before they submit (the Datasets page's Delete buttons).
"use strict";

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
