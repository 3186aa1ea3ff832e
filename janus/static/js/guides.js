// The guides page: Copy buttons on the snippets and the search box. Without JavaScript both stay hidden
// and the page is plain text to read and select.
(function () {
  "use strict";

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    if (!navigator.clipboard) return;  // only secure contexts (https, localhost) have the clipboard API
    button.hidden = false;
    button.addEventListener("click", function () {
      var code = document.getElementById(button.getAttribute("data-copy-target"));
      navigator.clipboard.writeText(code.textContent.trim()).then(function () {
        button.textContent = "Copied";
      }, function () {
        button.textContent = "Copy failed";
      });
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    });
  });

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
