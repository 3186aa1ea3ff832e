// The portal's little JavaScript: theme toggle, the modal dialog, copy buttons, where errors and focus go.
// Everything works without it (plain links and forms); no inline scripts (CSP: script-src 'self').
(function () {
  "use strict";
  var modal = document.getElementById("modal");
  var opener = null;

  // Copy buttons (the snippet macro) exist hidden; shown where the clipboard API is (https, localhost).
  function revealCopyButtons(root) {
    if (!navigator.clipboard) return;
    root.querySelectorAll("[data-copy-target]").forEach(function (button) { button.hidden = false; });
  }

  // One copy button for code snippets (its label says what happened) and for an input such as a
  // freshly issued token (selected too, so Ctrl+C works where the clipboard API is blocked; a
  // data-copy-status element says what happened).
  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) return;
    var isInput = source.tagName === "INPUT" || source.tagName === "TEXTAREA";
    var status = document.getElementById(button.getAttribute("data-copy-status") || "");
    function say(message) {
      if (status) { status.textContent = message; return; }
      button.textContent = message;
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    }
    if (isInput) { source.focus(); source.select(); }
    var selected = "the value is selected: press Ctrl+C (⌘C on a Mac) to copy it.";
    if (!navigator.clipboard || !window.isSecureContext) {
      say(isInput ? "The clipboard is not available here; " + selected : "Copy failed");
      return;
    }
    navigator.clipboard.writeText(isInput ? source.value : source.textContent.trim()).then(function () {
      say(status ? "Copied to the clipboard." : "Copied");
    }, function () {
      say(isInput ? "Copying was blocked; " + selected : "Copy failed");
    });
  }

  function showTheme() {
    var light = document.documentElement.getAttribute("data-theme") === "light";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (toggle) {
      toggle.setAttribute("aria-pressed", light ? "true" : "false");
    });
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) {
      var next = document.documentElement.getAttribute("data-theme") === "light" ? "dark" : "light";
      document.documentElement.setAttribute("data-theme", next);
      try { window.localStorage.setItem("janus-theme", next); } catch (e) { /* storage disabled */ }
      showTheme();
      return;
    }
    var close = event.target.closest("[data-closes-modal]");
    if (close && modal && modal.open) {
      event.preventDefault();
      clearModal();  // now, not when the (asynchronous) close event comes: a token value must not linger
      modal.close();
    }
    var dismiss = event.target.closest("[data-dismiss-alert]");
    if (dismiss) {
      var alert = dismiss.closest(".alert");
      if (alert) alert.remove();
    }
    var copyButton = event.target.closest("[data-copy-target]");
    if (copyButton) copy(copyButton);
  });

  // Whatever asks for a fragment for the dialog is where focus returns when it closes.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "modal-body" && !(modal && modal.open)) opener = event.detail.elt;
  });

  // The server sends errors that belong to no form field (403, 404, 409, 413, an expired page) to #alerts
  // (HX-Retarget), never into the widget that asked. While the dialog is open they go to the dialog's
  // own alert area instead: the page behind a modal dialog is inert and unseen.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "alerts" && modal && modal.open) {
      event.detail.target = document.getElementById("modal-alerts");
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;  // absent on history restores (Back)
    if (!target) return;
    revealCopyButtons(target.isConnected ? target : document);
    if (target.id === "alerts" || target.id === "modal-alerts") return;  // role=alert announces itself
    if (modal && target.id === "modal-body") {
      // A fragment swapped into the dialog opens it; focus goes to its first input (keyboard users).
      if (!modal.open) modal.showModal();
      var first = modal.querySelector("[aria-invalid=true], input:not([type=hidden]), select, textarea, button");
      if (first) first.focus();
      return;
    }
    // A swap that removed the focused element (a form re-rendered with its errors, a result panel
    // replaced) would drop focus to <body>: move it to the first invalid field, else into the new content.
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    var scope = modal && modal.open ? modal : document;
    var place = scope.querySelector("[aria-invalid=true]") ||
      (target.isConnected ? target : scope).querySelector("input:not([type=hidden]), select, textarea, button, [tabindex]");
    if (place) place.focus();
  });

  function clearModal() {
    document.getElementById("modal-body").innerHTML = "";
    var alerts = document.getElementById("modal-alerts");
    if (alerts) alerts.innerHTML = "";
  }

  // A change confirmed in the dialog whose answer went elsewhere (a connection card) closes it; the
  // server's HX-Trigger-After-Settle names where focus goes: {"janus-close-modal": {"focus": "#…"}}.
  document.addEventListener("janus-close-modal", function (event) {
    if (modal && modal.open) {
      clearModal();
      modal.close();
    }
    var where = event.detail && event.detail.focus;
    var place = where ? document.querySelector(where) : null;
    if (place) place.focus();
  });

  // A question the server sent to the dialog instead of the widget's own target (HX-Retarget: the
  // impact of disabling a connection): focus goes back to that widget's button if it is cancelled.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    var elt = event.detail && event.detail.elt;
    if (target && target.id === "modal-body" && !(modal && modal.open) && elt) {
      opener = elt.tagName === "FORM" ? (elt.querySelector("button") || elt) : elt;
    }
  });

  if (modal) {
    modal.addEventListener("close", function () {
      clearModal();  // Escape and the like close it natively
      if (opener && opener.isConnected) opener.focus();  // back where the admin was
    });
  }

  revealCopyButtons(document);
  showTheme();
})();
