// Sorts the episode table by a column: click a heading (again to reverse), or
// open the page as report.html#sort=peak (#sort=-peak for descending).
// Reads only the table's own cells; the page holds no other data.
(function () {
  var table = document.getElementById("episodes");
  if (!table) return;
  var heads = table.tHead.rows[0].cells;
  function key(row, i, numeric) {
    var cell = row.cells[i];
    var v = cell.getAttribute("data-v");
    if (v === null) v = cell.textContent;
    return numeric ? parseFloat(v) : v;
  }
  function sortBy(i, descending) {
    var numeric = heads[i].getAttribute("data-type") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, i, numeric), y = key(b, i, numeric);
      var c = numeric ? (isNaN(x) ? -Infinity : x) - (isNaN(y) ? -Infinity : y)
                      : (x < y ? -1 : x > y ? 1 : 0);
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var k = 0; k < heads.length; k++) heads[k].removeAttribute("aria-sort");
    heads[i].setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  for (var i = 0; i < heads.length; i++) {
    (function (i) {
      heads[i].addEventListener("click", function () {
        sortBy(i, heads[i].getAttribute("aria-sort") === "ascending");
      });
    })(i);
  }
  var m = /^#sort=(-?)([a-z_]+)$/.exec(location.hash);
  if (m) {
    for (var j = 0; j < heads.length; j++) {
      if (heads[j].getAttribute("data-key") === m[2]) sortBy(j, m[1] === "-");
    }
  }
})();
