// Starts Swagger UI on /apidocs (the admin API reference) with the options flasgger's inline script used.
// Loaded after flasgger's bundled swagger-ui-bundle.js and standalone preset (CSP: script-src 'self').
(function () {
  "use strict";
  var script = document.currentScript;
  var specUrl = script.getAttribute("data-spec-url");
  window.addEventListener("load", function () {
    var ui = window.SwaggerUIBundle({
      url: specUrl,
      dom_id: "#swagger-ui",
      validatorUrl: null,
      displayOperationId: true,
      deepLinking: true,
      apisSorter: "alpha",
      presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIStandalonePreset],
      plugins: [window.SwaggerUIBundle.plugins.DownloadUrl],
      layout: "StandaloneLayout"
    });
    ui.initOAuth({});
    window.ui = ui;
  });
})();
