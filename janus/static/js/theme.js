// Applied before the first paint (loaded without defer), so a light-theme user never sees a dark flash.
(function () {
  var saved = null;
  try { saved = window.localStorage.getItem("janus-theme"); } catch (e) { /* storage disabled */ }
  if (saved === "light" || saved === "dark") document.documentElement.setAttribute("data-theme", saved);
})();
