// Client Tokens: the copy button of a freshly issued token, and focus on its value (keyboard users).
// No inline scripts (CSP: script-src 'self'); without JavaScript the value can still be selected and copied.
(function () {
  "use strict";

  function say(id, text) {
    var status = id && document.getElementById(id);
    if (status) status.textContent = text;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-from]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-from"));
    var statusId = button.getAttribute("data-copy-status");
    if (!source) return;
    source.focus();
    source.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(
        function () { say(statusId, "Copied to the clipboard."); },
        function () { say(statusId, "Copying was blocked: the value is selected, press Ctrl+C to copy it."); });
    } else {
      say(statusId, "The value is selected: press Ctrl+C (⌘C on a Mac) to copy it.");
    }
  });

  function focusIssued() {
    var value = document.getElementById("issued-token-value");
    if (value && !value.hasAttribute("data-focused")) {
      value.setAttribute("data-focused", "");
      value.focus();
      value.select();
    }
  }

  document.addEventListener("htmx:afterSettle", focusIssued);
  document.addEventListener("DOMContentLoaded", focusIssued);
})();
