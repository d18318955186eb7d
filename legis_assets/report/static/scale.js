// The common scale's page: the trajectory panel (tables.js, included before, sorts and filters).
(function () {
  "use strict";
  // --- the data block (JSON, parsed, never executed) and the trajectory panel
  var data = null;
  var block = document.getElementById("scale-data");
  if (block) {
    try { data = JSON.parse(block.textContent); } catch (e) { data = null; }
  }
  var SVGNS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    var node = document.createElementNS(SVGNS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function fmt(v) { return (v === null || v === undefined) ? "n/a" : v.toFixed(2).replace("-", "\u2212"); }
  function drawTrajectory(index) {
    var panel = document.getElementById("trajectory");
    if (!data || !panel || !data.people[index]) { return; }
    var person = data.people[index];
    var heading = document.getElementById("trajectory-name");
    heading.textContent = person.n;
    var note = document.getElementById("trajectory-note");
    var moved = person.m || 0;
    note.textContent = person.s.length + " chamber-session" + (person.s.length === 1 ? "" : "s") +
      "; latest party: " + (person.p || "none") +
      (moved ? "; " + moved + " move" + (moved === 1 ? "" : "s") + " whose 90% interval excludes 0" : "");
    panel.setAttribute("data-person", String(index));
    var old = document.getElementById("trajectory-svg");
    if (old) { old.parentNode.removeChild(old); }
    var W = 900, H = 310, L = 52, R = 16, T = 30, B = 62;
    var svg = el("svg", { id: "trajectory-svg", viewBox: "0 0 " + W + " " + H, role: "img" });
    var title = el("title", {}, svg);
    title.textContent = "Trajectory of " + person.n;
    var nS = Math.max(data.sessions.length, 1);
    var lo = data.lo, hi = data.hi;
    function x(v) { return L + (nS === 1 ? 0.5 : (v + 0.5) / nS) * (W - L - R); }
    function y(v) { return T + (hi - v) / (hi - lo) * (H - T - B); }
    for (var g = Math.ceil(lo); g <= Math.floor(hi); g++) {
      el("line", { x1: L, x2: W - R, y1: y(g), y2: y(g), "class": g === 0 ? "zero" : "grid" }, svg);
      var t = el("text", { x: L - 6, y: y(g) + 4, "text-anchor": "end", "class": "tick" }, svg);
      t.textContent = String(g).replace("-", "\u2212");
    }
    el("line", { x1: L, x2: L, y1: T, y2: H - B, "class": "axis" }, svg);
    el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, "class": "axis" }, svg);
    var step = Math.max(1, Math.ceil(nS / 14));
    data.sessions.forEach(function (label, i) {
      if (i % step !== 0) { return; }
      var tx = el("text", { x: x(i), y: H - B + 14, "text-anchor": "end", "class": "tick",
                            transform: "rotate(-30 " + x(i) + " " + (H - B + 14) + ")" }, svg);
      tx.textContent = label;
    });
    var ylab = el("text", { x: 12, y: T + (H - T - B) / 2, "text-anchor": "middle", "class": "tick",
                            transform: "rotate(-90 12 " + (T + (H - T - B) / 2) + ")" }, svg);
    ylab.textContent = "position";
    // the person's (latest) party's mean per chamber, for reference
    var pm = (data.party_means[person.p] || {});
    Object.keys(pm).forEach(function (ch) {
      var pts = pm[ch].map(function (q) { return x(q[0] + data.offset[ch]) + "," + y(q[1]); }).join(" ");
      el("polyline", { points: pts, "class": "partyline partyline-" + ch, stroke: person.c }, svg);
    });
    var path = person.s.map(function (q) { return x(q[0] + data.offset[q[1]]) + "," + y(q[2]); }).join(" ");
    el("polyline", { points: path, "class": "path", stroke: person.c }, svg);
    person.s.forEach(function (q) {
      var cx = x(q[0] + data.offset[q[1]]), colour = q[5] || person.c;
      if (q[3] !== null && q[4] !== null) {
        el("line", { x1: cx, x2: cx, y1: y(q[3]), y2: y(q[4]), "class": "bar", stroke: colour }, svg);
      }
      var mark = q[1] === "senate"
        ? el("rect", { x: cx - 5, y: y(q[2]) - 5, width: 10, height: 10, fill: colour, "class": "pt" }, svg)
        : el("circle", { cx: cx, cy: y(q[2]), r: 5.5, fill: colour, "class": "pt" }, svg);
      var tip = el("title", {}, mark);
      tip.textContent = data.sessions[q[0]] + " \u00b7 " + q[1] + ": " + fmt(q[2]) + " (90% interval " +
        fmt(q[3]) + " to " + fmt(q[4]) + ")";
    });
    var legend = el("text", { x: W - R, y: 14, "text-anchor": "end", "class": "tick" }, svg);
    legend.textContent = "\u25cf House \u00b7 \u25a0 Senate \u00b7 bars: 90% interval \u00b7 dashed: " +
      "party's House mean \u00b7 dotted: party's Senate mean";
    panel.appendChild(svg);
    Array.prototype.forEach.call(document.querySelectorAll("#positions-table tbody tr"), function (row) {
      row.classList.toggle("chosen", row.getAttribute("data-person") === String(index));
    });
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("button.person") : null;
    if (!button) { return; }
    var index = parseInt(button.getAttribute("data-person"), 10);
    if (isNaN(index)) { return; }
    drawTrajectory(index);
    if (button.hasAttribute("data-scroll")) {
      var panel = document.getElementById("trajectory");
      if (panel) { panel.scrollIntoView(); }
    }
  });

  // --- a search that leaves one person shows their trajectory (tables.js filters the rows)
  Array.prototype.forEach.call(document.querySelectorAll("input[data-trajectory]"), function (input) {
    input.addEventListener("tablefilter", function (event) {
      var people = {};
      event.detail.rows.forEach(function (row) { people[row.getAttribute("data-person")] = true; });
      var ids = Object.keys(people);
      if (event.detail.query !== "" && ids.length === 1 && !isNaN(parseInt(ids[0], 10))) {
        drawTrajectory(parseInt(ids[0], 10));
      }
    });
  });
})();
