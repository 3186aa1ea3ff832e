// The OpenAPI page: every enabled tool in Swagger UI (read with the portal session, no "Try it out"), then,
// with a pasted client token, that token's own tool document with "Try it out".
// The token lives only in this closure: it goes out only in the Authorization header of requests to this
// gateway's /api/ paths, never to the portal, never into a URL, localStorage, sessionStorage or a cookie.
(function () {
  "use strict";
  var form = document.getElementById("spec-form");
  if (!form) return;
  var input = document.getElementById("client-token");
  var status = document.getElementById("client-token-status");
  var view = document.getElementById("spec-view");
  var host = document.getElementById("swagger-ui");
  var dialog = document.getElementById("spec-dialog");
  var json = document.getElementById("spec-json");
  var download = document.getElementById("download-spec");
  var loadButton = document.getElementById("load-spec");
  var forget = document.getElementById("forget-token");
  var token = null;
  var downloadUrl = null;

  function say(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", Boolean(isError));
    if (isError) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  // Only this gateway's bearer APIs get the token: a spec could name other servers, and the portal needs none.
  function isGatewayApi(url) {
    try {
      var target = new URL(url, window.location.href);
      return target.origin === window.location.origin && target.pathname.indexOf("/api/") === 0;
    } catch (e) {
      return false;
    }
  }

  function withToken(request) {
    if (token && isGatewayApi(request.url)) {
      request.headers = request.headers || {};
      request.headers.Authorization = "Bearer " + token;
    }
    request.credentials = "omit";  // bearer APIs: the portal's session cookie has no business there
    return request;
  }

  function reset() {
    token = null;
    forget.hidden = true;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = null;
    host.innerHTML = "";
    json.textContent = "";
    view.hidden = true;
  }

  // Every enabled tool, read with the portal session: browsing needs no client token, calling does.
  function showEveryTool() {
    fetch(form.getAttribute("data-full-spec-url"), {
      headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (text) {
      if (token) return;  // a token's document arrived first
      var spec = JSON.parse(text);
      show(spec, text, false);
      var count = Object.keys(spec.paths).length;
      document.getElementById("spec-title").textContent =
        "Every enabled tool (" + count + "): paste a client token above to try them out";
    }).catch(function () {
      say("The tool document could not be loaded; reload the page.", true);
    });
  }

  function show(spec, text, callable) {
    json.textContent = JSON.stringify(spec, null, 2);
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    download.href = downloadUrl;
    // Swagger UI sends "Try it out" to the page's own origin: that is where this browser reaches the
    // gateway, even behind a proxy whose PUBLIC_URL names another address.
    var forUi = JSON.parse(text);
    forUi.servers = [{ url: window.location.origin, description: "This gateway" }];
    view.hidden = false;
    host.innerHTML = "";
    window.SwaggerUIBundle({
      spec: forUi,
      domNode: host,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      validatorUrl: null,          // the default is validator.swagger.io (VENDORED.md)
      queryConfigEnabled: false,   // never load a spec named in this page's query string
      deepLinking: false,
      persistAuthorization: false, // nothing in localStorage
      supportedSubmitMethods: callable ? ["post"] : [],  // no "Try it out" without a client token
      requestInterceptor: withToken
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var pasted = input.value.trim();
    if (!pasted) {
      say("Paste a client token first.", true);
      input.focus();
      return;
    }
    reset();
    loadButton.disabled = true;
    say("Loading the tool document…", false);
    fetch(form.getAttribute("data-spec-url"), {
      headers: { Authorization: "Bearer " + pasted, Accept: "application/json" },
      credentials: "omit",
      cache: "no-store"
    }).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { /* not JSON: reported below */ }
        if (!response.ok) {
          throw new Error((body && body.message) || ("The gateway answered HTTP " + response.status + "."));
        }
        if (!body || typeof body.paths !== "object") throw new Error("The gateway's answer is not an OpenAPI document.");
        return { body: body, text: text };
      });
    }, function () {
      throw new Error("The gateway could not be reached.");
    }).then(function (loaded) {
      token = pasted;
      forget.hidden = false;
      input.value = "";
      var count = Object.keys(loaded.body.paths).length;
      say(count === 1 ? "1 tool loaded for this token." :
          count + " tools loaded for this token." + (count ? "" : " Its scopes match no enabled tool."), false);
      show(loaded.body, loaded.text, true);
      document.getElementById("spec-title").textContent = "The token's tools: Try it out calls them";
    }).catch(function (error) {
      reset();
      showEveryTool();
      say(error.message, true);
    }).then(function () {
      loadButton.disabled = false;
    });
  });

  forget.addEventListener("click", function () {
    reset();
    showEveryTool();
    say("The token is forgotten.", false);
    input.focus();
  });

  showEveryTool();
  loadButton.disabled = false;

  document.getElementById("show-spec").addEventListener("click", function () {
    dialog.showModal();
    document.getElementById("close-spec").focus();
  });
  document.getElementById("close-spec").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { document.getElementById("show-spec").focus(); });
})();
