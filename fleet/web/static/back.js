// "Back" links: the Content-Security-Policy forbids javascript: URLs, so the
// link goes to the overview without JS and back in history with it.
(function () {
  "use strict";
  var links = document.querySelectorAll("a[data-history-back]");
  for (var i = 0; i < links.length; i++) {
    links[i].addEventListener("click", function (ev) {
      if (window.history.length > 1) {
        ev.preventDefault();
        window.history.back();
      }
    });
  }
})();
