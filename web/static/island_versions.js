/* Code versions (issue 15): the code each island mounted at start, with an "outdated" badge when
   its branch's nodes hold another version now ("older code: abc123, branch weekly is at def456").
   The table reads GET /api/branches?ids=<its rows> (one poll for the rows the page shows; the
   server answers its stored readings without waiting on kubectl) and fills each row's td.codever;
   the island page reads GET /api/islands/<id> ("code_version"). */
(function () {
  "use strict";
  var I = window.Island;
  var REFRESH = 30000;

  function paint(cell, v, long) {
    cell.textContent = "";
    if (!v) { cell.textContent = "–"; return; }
    var text = v.shown || "–";
    if (!long && v.state === "ok" && text.length > 12) text = text.slice(0, 11) + "…";
    cell.appendChild(I.el("span", { className: "version v-" + v.state, text: text, title: v.shown + (v.at ? " · " + I.formatLocal(v.at) : "") }));
    if (v.outdated) {
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(I.el("span", { className: "badge outdated", text: I.t("codever.outdated"), title: v.note }));
    }
    if (long && v.current_shown) {
      cell.appendChild(I.el("small", { className: "muted", text: " · " + I.t("codever.branch_at") + " " + v.current_shown }));
    }
    if (long && v.note) cell.title = v.note;
  }

  var detail = document.getElementById("d-code-version");
  var root = document.getElementById("island");
  if (detail && root) {
    var load = function () {
      I.api("GET", I.islandUrl(root.dataset.islandId)).then(function (island) { paint(detail, island.code_version, true); },
                                                           function () {});
    };
    load();
    setInterval(load, REFRESH);
  }

  I.pollCells("codever", "/branches", function (i) { return i.code_version; },
              function (cell, value) { paint(cell, value, false); }, REFRESH);
})();
