/* "Download remains" (issue 15): shown once the island's server ended (failed, timeout) while the
   page is open, hidden once it is deleted; admins see it in every other state. The server decides
   who gets the link at all (the owner and admins); this only follows the live state. */
(function () {
  "use strict";
  var island = document.getElementById("island");
  var box = document.getElementById("remains");
  if (!island || !box) return;
  var ENDED = (box.getAttribute("data-ended") || "").split(" ");  // core.remains.SERVER_ENDED_STATES
  function follow() {
    var state = island.getAttribute("data-state") || "";
    if (!state) return;
    box.hidden = state === "deleted" || !(box.getAttribute("data-admin") === "1" || ENDED.indexOf(state) >= 0);
  }
  new MutationObserver(follow).observe(island, { attributes: true, attributeFilter: ["data-state"] });
  follow();
})();
