/* The island page's lease: time left (counting down), its end, and the extend button (POST
   /api/islands/<id>/lease {"extend": "+4h"}); without scripts the form posts and the page flashes. */
(function () {
  "use strict";
  var I = window.Island;
  var root = document.getElementById("island");
  if (!root) return;
  var url = I.apiBase + "/" + root.dataset.islandId + "/lease";
  var left = document.getElementById("d-lease"), ends = document.getElementById("d-lease-ends");
  var form = document.getElementById("extend-form"), text = document.getElementById("extend-text");
  var expires = null;

  function leaseLeft(iso) {
    if (!iso) return "–";
    var s = Math.floor((Date.parse(iso) - Date.now()) / 1000);
    if (!(s > 0)) return I.t("lease.expired");
    var parts = [], units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
    units.forEach(function (u) { if (s >= u[1]) { parts.push(Math.floor(s / u[1]) + u[0]); s %= u[1]; } });
    return parts.slice(0, 2).join("");  // as core.lease.time_left_text
  }

  function show() { left.textContent = leaseLeft(expires); }

  function load() {
    return I.api("GET", url).then(function (data) {
      expires = data.lease.expires_at;
      ends.textContent = expires ? I.t("lease.ends") + " " + I.formatLocal(expires) : "";
      left.classList.toggle("warned", Boolean(data.lease.warned_at));
      form.hidden = !data.can_extend;
      show();
    }, function () { /* the page's own polling shows the island's fate */ });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    I.api("POST", url, { extend: text.value.trim() }).then(function () {
      I.toast(I.t("action.done"), "ok");
      load();
    }, function (e) { I.toast(e.message, "error"); });
  });

  load();
  setInterval(show, 1000);
  setInterval(load, 15000);
})();
