"use strict";
(function () {
  var table = document.querySelector("table.models");
  if (table) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var filter = document.getElementById("filter"), count = document.getElementById("count");
    var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    var apply = function () {
      var terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
      rows.forEach(function (r, i) {
        var keep = terms.every(function (t) { return texts[i].indexOf(t) >= 0; });
        r.hidden = !keep;
        if (keep) { shown += 1; }
      });
      count.textContent = shown + " of " + rows.length + " models";
    };
    filter.addEventListener("input", apply);
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      var button = th.querySelector("button");
      button.addEventListener("click", function () {
        var numeric = th.getAttribute("data-type") === "num";
        var up = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var key = function (r) {
          var v = r.cells[col].getAttribute("data-v");
          if (v === null) { v = r.cells[col].textContent; }
          if (numeric) { return v === "" ? NaN : parseFloat(v); }
          return v.toLowerCase();
        };
        var keyed = rows.map(function (r, i) { return [key(r), i, r]; });
        keyed.sort(function (a, b) {
          var x = a[0], y = b[0];
          if (numeric && isNaN(x) !== isNaN(y)) { return isNaN(x) ? 1 : -1; }  // blanks last either way
          var c = x < y ? -1 : x > y ? 1 : 0;
          return (up ? c : -c) || a[1] - b[1];
        });
        rows = keyed.map(function (k) { return k[2]; });
        texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    apply();
  }
  // The command lines name this hub: its URL when served, its folder when opened from a file.
  var hub = location.href.replace(/[?#].*$/, "").replace(/(models\/[^\/]*|index\.html)?$/, "");
  if (location.protocol === "file:") { hub = decodeURIComponent(location.pathname.replace(/(models\/[^\/]*|index\.html)?$/, "")); }
  Array.prototype.forEach.call(document.querySelectorAll(".hub-url"), function (el) { el.textContent = hub; });
})();
