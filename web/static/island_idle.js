/* The island page's activity line: "idle 2h 10m" (no established connection on its game ports
   since then, at the last check) or the last activity seen; from GET /api/islands/<id> ("idle"). */
(function () {
  "use strict";
  var I = window.Island;
  var root = document.getElementById("island");
  var cell = document.getElementById("d-idle");
  if (!root || !cell) return;
  var id = root.dataset.islandId;

  function show(idle) {
    idle = idle || {};
    var parts = [];
    if (idle.idle) parts.push(I.t("idle.badge") + " " + String(idle.idle_text || "").replace(/^idle /, ""));
    parts.push(I.t("idle.last_activity") + ": " + (idle.last_activity_at ? I.formatLocal(idle.last_activity_at) : I.t("idle.none")));
    if (idle.activity_checked_at) parts.push(I.t("idle.checked") + " " + I.formatLocal(idle.activity_checked_at));
    cell.textContent = parts.join(" · ");
    cell.classList.toggle("idle", Boolean(idle.idle));
  }

  function load() {
    I.api("GET", I.islandUrl(id)).then(function (island) { show(island.idle); }, function () {});
  }
  load();
  setInterval(load, 30000);
})();
