// Starts the vendored Swagger UI on /apidocs/ (the admin API reference); CSP script-src 'self', so no inline script.
// The document's URL comes from this script tag alone: the page's query string is never read, so a link such as
// /apidocs/?configUrl=… or ?url=… cannot make the page load (and present as Janus's) a document from elsewhere.
(function () {
  "use strict";
  var specUrl = document.currentScript.getAttribute("data-spec-url");
  window.addEventListener("DOMContentLoaded", function () {
    window.SwaggerUIBundle({
      url: specUrl,
      dom_id: "#swagger-ui",
      queryConfigEnabled: false,  // the default since Swagger UI 4.1.3; stated so an upgrade cannot turn it on
      validatorUrl: null,         // the default is validator.swagger.io (VENDORED.md)
      // BaseLayout, not the standalone preset's top bar, whose "Explore" box loads any URL typed into it.
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      displayOperationId: true,
      deepLinking: true,
      persistAuthorization: false   // a pasted session token stays in memory, never in localStorage
    });
  });
})();
