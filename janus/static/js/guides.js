// The guides page's search box (its Copy buttons are portal.js's). Without JavaScript the box stays
// hidden and the page is plain text to read and select.
(function () {
  "use strict";

  var search = document.querySelector("[data-search]");
  if (!search) return;
  var input = document.getElementById("guide-search");
  var status = document.getElementById("guide-search-status");
  var empty = document.getElementById("guide-search-empty");
  var sections = Array.prototype.slice.call(document.querySelectorAll(".guide-section"));
  search.hidden = false;
  input.addEventListener("input", function () {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    sections.forEach(function (section) {
      var text = section.textContent.toLowerCase();
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      section.hidden = !match;
      if (match) shown += 1;
    });
    empty.hidden = shown > 0;
    status.textContent = words.length ? shown + " of " + sections.length + " sections match." : "";
  });
})();
