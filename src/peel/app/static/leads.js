// The workbench's crime map follows the check boxes, and a click on a crime on the map ticks
// its box. The page works without this file: the boxes are the way to choose.
document.addEventListener("DOMContentLoaded", function () {
  var boxes = Array.prototype.slice.call(document.querySelectorAll("table.crimes input[type=checkbox][name=crimes]"));
  var circles = Array.prototype.slice.call(document.querySelectorAll("svg.leadmap circle.crime[data-ref]"));
  if (!boxes.length || !circles.length) return;
  function sync() {
    var chosen = {};
    boxes.forEach(function (b) { if (b.checked) chosen[b.value] = true; });
    circles.forEach(function (c) { c.classList.toggle("chosen", !!chosen[c.getAttribute("data-ref")]); });
  }
  boxes.forEach(function (b) { b.addEventListener("change", sync); });
  circles.forEach(function (c) {
    c.addEventListener("click", function () {
      var ref = c.getAttribute("data-ref");
      boxes.forEach(function (b) { if (b.value === ref) { b.checked = !b.checked; } });
      sync();
    });
  });
  sync();
});
