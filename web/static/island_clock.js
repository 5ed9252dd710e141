/* The island page's clock panel (issue 13): what the island reads and the proof of it, presets,
   freeze / resume / speed / reset, timelines with cancel, the clock history with who.
   Every button is a plain form (works without this script); here they go through the API instead,
   and the panel is kept current. Text from the server is inserted with textContent only. */
(function () {
  "use strict";
  var I = window.Island;
  var root = document.getElementById("island");
  var panel = document.getElementById("clock-panel");
  if (!root || !panel) return;
  var id = Number(root.dataset.islandId);
  var $ = function (sel) { return document.getElementById(sel); };
  var view = null, loadedAt = 0, islandState = null;
  var CHANGEABLE = I.vocabulary.groups.changeable;

  function formatIn(epoch, zone) {
    var date = new Date(epoch * 1000);
    try {
      // sv-SE writes 2021-09-18 04:59:50
      return new Intl.DateTimeFormat("sv-SE", { timeZone: zone || "UTC", year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(date);
    } catch (e) {
      return I.formatUtc(date);
    }
  }

  function islandNow() {
    if (!view) return null;
    if (view.frozen) return view.island_now;
    return view.island_now + (view.rate || 1) * (Date.now() - loadedAt) / 1000;
  }

  function tick() {
    if (!view || root.dataset.state === "deleted") return;
    $("d-clock").textContent = formatIn(islandNow(), view.timezone) + " " + (view.timezone || "UTC");
  }

  function renderView() {
    I.clockOwnsTime = true; // island_detail.js leaves #d-clock to this script from now on
    var badge = $("clock-badge");
    badge.hidden = !view.badge;
    badge.textContent = view.frozen ? I.t("clock.frozen") : view.badge;
    badge.className = "clock-badge " + (view.frozen ? "frozen" : view.badge ? "fast" : "");
    var proof = $("clock-proof");
    proof.textContent = view.proof_line || "";
    proof.classList.toggle("error", !!(view.proof && Math.abs(view.proof.diff) > 2));
    var list = $("clock-timelines");
    var items = (view.timelines || []).map(function (t) {
      var li = I.el("li", { "data-timeline": t.id }, [
        I.el("span", { className: "mono", text: "#" + t.id + " " }),
        I.el("span", { text: (t.state || "") + " · " + (t.text || "") + (t.who ? " · " + t.who : "") }),
      ]);
      if (view.can_change) li.appendChild(cancelForm(t.id));
      return li;
    });
    list.replaceChildren.apply(list, items);
    var canChange = view.can_change && CHANGEABLE.indexOf(islandState || root.dataset.state) >= 0;
    panel.querySelectorAll("button").forEach(function (b) { b.disabled = !canChange; });
    tick();
  }

  function cancelForm(timelineId) {
    var form = $("timeline-cancel-template").content.firstElementChild.cloneNode(true);
    form.action = $("timeline-cancel-base").dataset.url.replace(/\/0\/cancel$/, "/" + timelineId + "/cancel");
    form.dataset.timeline = timelineId;
    return form;
  }

  function renderHistory(entries) {
    var rows = entries.map(function (e) {
      var failed = e.ok === false || e.ok === 0;
      var diff = typeof e.diff_seconds === "number" ? (e.diff_seconds >= 0 ? "+" : "") + e.diff_seconds.toFixed(2) + " s" : "";
      var read = e.read ? e.read + (e.asked ? " / " + e.asked : "") + (diff ? " (" + diff + ")" : "") : diff;
      return I.el("tr", { className: failed ? "failed" : "" }, [
        I.el("td", { className: "mono", text: I.formatLocal(e.at) }),
        I.el("td", { text: e.who || "" }),
        I.el("td", { text: (e.source && ["user", "preset"].indexOf(e.source) < 0 ? e.source + ": " : "") + (e.text || "") }),
        I.el("td", { className: "mono", text: failed ? I.t("clock.not_taken") + (e.error ? ": " + e.error : "") : read }),
      ]);
    });
    $("clock-history").replaceChildren.apply($("clock-history"), rows);
  }

  function load() {
    return Promise.all([I.api("GET", I.islandUrl(id, "/clock")),
                        I.api("GET", I.islandUrl(id, "/clock/history?limit=20"))]).then(function (r) {
      view = r[0];
      loadedAt = Date.now();
      renderView();
      renderHistory(r[1].history);
    }, function () { /* the island page shows its own errors */ });
  }

  function payloadOf(form, submitter) {
    if (form.id === "timeline-form") return { steps: $("timeline-steps").value };
    if (!submitter || !submitter.name) return null;
    var data = {};
    data[submitter.name] = submitter.name === "speed" ? Number(submitter.value) : submitter.value;
    return data;
  }

  panel.addEventListener("submit", function (event) {
    var form = event.target;
    event.preventDefault();
    var request;
    if (form.classList.contains("timeline-cancel")) {
      request = I.api("DELETE", I.islandUrl(id, "/clock/timelines/" + form.dataset.timeline));
    } else if (form.id === "timeline-form") {
      request = I.api("POST", I.islandUrl(id, "/clock/timelines"), payloadOf(form));
    } else {
      request = I.api("POST", I.islandUrl(id, "/clock"), payloadOf(form, event.submitter));
    }
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    body().dataset.clockBusy = "true";
    request.then(function (answer) {
      if (answer && answer.clock && I.detailUpdate) I.detailUpdate(answer); // setting, state
      if (form.id === "timeline-form") $("timeline-steps").value = "";
      I.toast(I.t("action.done"), "ok");
      return load();
    }, function (e) { I.toast(e.message, "error"); return load(); }).then(function () {
      body().dataset.clockBusy = "false";
      if (view) renderView();
      else buttons.forEach(function (b) { b.disabled = false; });
    });
  });

  function body() { return document.body; }

  // the island's state (changeable or not) from the detail page's own rendering
  new MutationObserver(function () {
    islandState = root.dataset.state;
    if (view) renderView();
  }).observe(root, { attributes: true, attributeFilter: ["data-state"] });

  I.clockReload = load;
  load();
  setInterval(tick, 1000);
  setInterval(function () { if (!document.hidden) load(); }, 10000);
})();
