// Alerts page: the header checkbox ticks every open alert of this page.
// Without JavaScript each row still has its own checkbox and button.
(function () {
  "use strict";
  var all = document.getElementById("ack-all");
  if (!all) { return; }
  var boxes = function () { return document.querySelectorAll("input.ack-box"); };
  all.addEventListener("change", function () {
    boxes().forEach(function (b) { b.checked = all.checked; });
  });
  document.addEventListener("change", function (e) {
    if (e.target.classList && e.target.classList.contains("ack-box")) {
      var list = Array.prototype.slice.call(boxes());
      all.checked = list.length > 0 && list.every(function (b) { return b.checked; });
    }
  });
}());
