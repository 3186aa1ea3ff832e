// Import OpenAPI: the plan of a large description (GitHub's has 1,200 operations) is usable — a filter over the
// rows (tool, operation, path, tag or status; every word must match), "Tick shown" / "Untick shown" for the
// rows the filter leaves, and a count of what is ticked. Without JavaScript the page still works: every row is
// shown, the boxes are ticked one by one, and Include/Exclude on the first step narrow the plan on the server.
// No inline scripts (CSP: script-src 'self').
(function () {
  "use strict";

  function setUp() {
    var tools = document.getElementById("plan-tools");
    var table = document.getElementById("import-plan");
    if (!tools || !table || tools.hasAttribute("data-ready")) return;
    tools.setAttribute("data-ready", "");
    var filter = document.getElementById("plan-filter");
    var count = document.getElementById("plan-ticked");
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var texts = rows.map(function (row) { return (row.getAttribute("data-search") || "").toLowerCase(); });
    var boxes = rows.map(function (row) { return row.querySelector("input[name=approve]"); });
    var pending = null;

    function tickable() { return boxes.filter(function (box) { return box; }).length; }

    function showCount() {
      var ticked = boxes.filter(function (box) { return box && box.checked; }).length;
      var shown = rows.filter(function (row) { return !row.hidden; }).length;
      count.textContent = ticked + " of " + tickable() + " ticked; " + shown + " of " + rows.length + " shown";
    }

    function applyFilter() {
      pending = null;
      var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      rows.forEach(function (row, i) {
        var text = texts[i];
        row.hidden = !words.every(function (word) { return text.indexOf(word) !== -1; });
      });
      showCount();
    }

    function tickShown(checked) {
      rows.forEach(function (row, i) {
        if (!row.hidden && boxes[i]) boxes[i].checked = checked;
      });
      showCount();
    }

    filter.addEventListener("input", function () {
      if (pending !== null) window.clearTimeout(pending);
      pending = window.setTimeout(applyFilter, 120);  // one pass over the rows per pause in typing
    });
    filter.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); applyFilter(); }  // never submits the plan
    });
    document.getElementById("plan-tick-shown").addEventListener("click", function () { tickShown(true); });
    document.getElementById("plan-untick-shown").addEventListener("click", function () { tickShown(false); });
    table.addEventListener("change", showCount);
    tools.hidden = false;
    showCount();
  }

  document.addEventListener("DOMContentLoaded", setUp);
  document.addEventListener("htmx:afterSettle", setUp);
})();
