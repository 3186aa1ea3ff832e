// The portal's little JavaScript: theme toggle, the modal dialog and copy buttons.
// Everything works without it (plain links and forms); no inline scripts (CSP: script-src 'self').
(function () {
  "use strict";
  var modal = document.getElementById("modal");
  var opener = null;

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) {
      var next = document.documentElement.getAttribute("data-theme") === "light" ? "dark" : "light";
      document.documentElement.setAttribute("data-theme", next);
      try { window.localStorage.setItem("janus-theme", next); } catch (e) { /* storage disabled */ }
      return;
    }
    var close = event.target.closest("[data-closes-modal]");
    if (close && modal && modal.open) {
      event.preventDefault();
      modal.close();
    }
    var copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) navigator.clipboard.writeText(copy.textContent.trim());
  });

  // Whatever asks for a fragment for the dialog is where focus returns when it closes.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "modal-body" && !(modal && modal.open)) opener = event.detail.elt;
  });

  // A fragment swapped into the dialog opens it; focus goes to its first input (keyboard users).
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;  // absent on history restores (Back)
    if (!modal || !target || target.id !== "modal-body") return;
    if (!modal.open) modal.showModal();
    var first = modal.querySelector("input:not([type=hidden]), select, textarea, button");
    if (first) first.focus();
  });

  if (modal) {
    modal.addEventListener("close", function () {
      document.getElementById("modal-body").innerHTML = "";
      if (opener) opener.focus();  // back where the admin was
    });
  }
})();
