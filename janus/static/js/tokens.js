// Client Tokens: focus on the value of a freshly issued token (keyboard users); its Copy button is
// portal.js's. No inline scripts (CSP: script-src 'self'); without JavaScript the value can still be
// selected and copied.
(function () {
  "use strict";

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
