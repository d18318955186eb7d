// The tables of both report pages (the chamber report and the common scale's page), included
// first in each page's one inline script.
(function () {
  "use strict";
  // Sortable tables: a <button class="sort"> in each sortable header cell. Cells may carry a
  // data-sort value (numbers as text); empty values sort last in both directions.
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return null; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (raw === "") { return null; }
    if (numeric) {
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw.toLocaleLowerCase();
  }
  function sortBy(table, th, index) {
    var numeric = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var headers = table.tHead.rows[0].cells;
    for (var h = 0; h < headers.length; h++) { headers[h].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, i) { return { row: row, key: cellValue(row, index, numeric), i: i }; });
    keyed.sort(function (a, b) {
      if (a.key === null && b.key === null) { return a.i - b.i; }
      if (a.key === null) { return 1; }
      if (b.key === null) { return -1; }
      if (a.key < b.key) { return -sign; }
      if (a.key > b.key) { return sign; }
      return a.i - b.i;
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (k) { fragment.appendChild(k.row); });
    body.appendChild(fragment);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, index) {
      var button = th.querySelector("button.sort");
      if (button) { button.addEventListener("click", function () { sortBy(table, th, index); }); }
    });
  });
  // Search boxes: <input data-filter-table="table id" data-filter-status="status id"
  // data-filter-noun="what a row is">; a row matches when its text or its data-search attribute
  // contains the query (case-insensitive). After each search the input fires a "tablefilter"
  // event whose detail holds the query and the rows shown (a page's own script may listen).
  Array.prototype.forEach.call(document.querySelectorAll("input[data-filter-table]"), function (input) {
    var table = document.getElementById(input.getAttribute("data-filter-table"));
    if (!table) { return; }
    var status = document.getElementById(input.getAttribute("data-filter-status"));
    var noun = input.getAttribute("data-filter-noun") || "rows";
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var texts = rows.map(function (row) {
      return ((row.getAttribute("data-search") || "") + " " + row.textContent).toLocaleLowerCase();
    });
    function apply() {
      var query = input.value.trim().toLocaleLowerCase();
      var shown = [];
      rows.forEach(function (row, i) {
        var hit = query === "" || texts[i].indexOf(query) !== -1;
        row.hidden = !hit;
        if (hit) { shown.push(row); }
      });
      if (status) {
        status.textContent = query === "" ? "All " + rows.length + " " + noun
          : "Showing " + shown.length + " of " + rows.length + " " + noun;
      }
      input.dispatchEvent(new CustomEvent("tablefilter", { detail: { query: query, rows: shown } }));
    }
    input.addEventListener("input", apply);
    input.addEventListener("search", apply);
    apply();
  });
})();
