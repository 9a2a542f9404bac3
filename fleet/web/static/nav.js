// Collapsing navigation on narrow screens: without this file the menu is
// simply always open. The button says whether it is open (aria-expanded);
// Escape closes it and gives the focus back to the button.
(function () {
  "use strict";
  var header = document.querySelector("header.top");
  var button = header && header.querySelector(".nav-toggle");
  if (!button || !header.querySelector("nav")) return;
  header.classList.add("nav-js");
  button.hidden = false;

  function set(open) {
    header.classList.toggle("nav-open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  button.addEventListener("click", function () {
    set(!header.classList.contains("nav-open"));
  });
  header.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && header.classList.contains("nav-open")) {
      set(false);
      button.focus();
    }
  });
})();
