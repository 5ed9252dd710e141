/* Resource use (issue 15): "mem 412Mi / 1Gi (40%) · cpu 12m", orange past islands.memory_warning,
   the OOMKilled reason linked to its limit ("killed: out of memory at 1Gi"). The island page reads
   GET /api/islands/<id>/usage; the table reads GET /api/usage?ids=<its rows> (the server's one
   metrics poll for all islands, shared for islands.usage_cache_seconds, answered for the rows the
   page shows) and fills each row's td.usage. */
(function () {
  "use strict";
  var I = window.Island;
  var REFRESH = 15000;

  function paint(cell, u, compact) {
    cell.textContent = "";
    cell.classList.toggle("warning", Boolean(u && u.warning));
    cell.classList.toggle("na", !(u && u.available));
    if (!u) { cell.textContent = "–"; return; }
    if (u.oom_killed) {
      cell.appendChild(I.el("span", { className: "oom", title: u.oom_killed.reason,
                                      text: compact ? "OOMKilled" : u.oom_killed.text }));
      cell.appendChild(document.createTextNode(" "));
    }
    // the table is narrow: "215Mi (84%)", the limit and cpu in the title; the page says it all
    var text = !u.available ? I.t("usage.na") : compact ? (u.memory + " (" + u.memory_percent + "%)")
      : (u.memory + " / " + u.memory_limit + " (" + u.memory_percent + "%)");
    cell.appendChild(I.el("span", { className: "mem", text: text, title: u.text }));
    if (u.available && u.cpu && !compact) cell.appendChild(I.el("small", { className: "cpu muted", text: " cpu " + u.cpu }));
  }

  var detail = document.getElementById("d-usage");
  var root = document.getElementById("island");
  if (detail && root) {
    var load = function () {
      I.api("GET", I.islandUrl(root.dataset.islandId, "/usage")).then(function (u) {
        paint(detail, u);
        detail.title = u.text;
      }, function () {});
    };
    load();
    setInterval(load, REFRESH);
  }

  I.pollCells("usage", "/usage", function (u) { return u; },
              function (cell, value) { paint(cell, value, true); }, REFRESH);
})();
