/* One island: progress through its states, address, clock, actions, logs and history, live. */
(function () {
  "use strict";
  var I = window.Island;
  var root = document.getElementById("island");
  var id = Number(root.dataset.islandId);
  var island = null;
  var events = [];
  var GROUPS = I.vocabulary.groups;
  var PROGRESS = GROUPS.progress;
  var FAILED = GROUPS.failed;
  var $ = function (sel) { return document.getElementById(sel); };

  function lastProgressState() {
    for (var i = events.length - 1; i >= 0; i--) {
      var e = events[i];
      if (PROGRESS.indexOf(e.to_state) >= 0) return e.to_state;
      if (e.from_state && PROGRESS.indexOf(e.from_state) >= 0) return e.from_state;
    }
    return PROGRESS[0];
  }

  function renderProgress() {
    var state = island.state;
    var failed = FAILED.indexOf(state) >= 0;
    var reached = PROGRESS.indexOf(state);
    if (failed) reached = PROGRESS.indexOf(lastProgressState());
    var gone = GROUPS.gone.indexOf(state) >= 0;
    if (gone) reached = PROGRESS.length;
    document.querySelectorAll("#progress li").forEach(function (li, index) {
      li.className = index < reached || (index === reached && state === "ready") ? "done"
        : index === reached ? (failed ? "failed" : "active") : "";
    });
    var explain = $("d-explain");
    explain.className = "explain " + (failed ? "error" : state === "ready" ? "ok" : "");
    if (failed) {
      var why = I.explainReason(island.reason);
      explain.textContent = I.t("progress.failed") + " — " + I.stateName(state) + (island.reason ? " (" + island.reason + ")" : "") +
        (why ? ": " + why : "") + (island.message ? " · " + island.message : "");
    } else if (state === "ready") {
      explain.textContent = I.t("progress.ready");
    } else if (state === "pending" || state === "creating" || state === "starting") {
      explain.textContent = island.message || "";
    } else {
      explain.textContent = gone ? I.stateName(state) : "";
    }
  }

  function render() {
    root.dataset.state = island.state;
    $("d-state").replaceWith(Object.assign(I.stateBadge(island), { id: "d-state" }));
    $("d-owner").textContent = island.owner;
    $("d-address").textContent = island.address || "–";
    $("d-copy").hidden = !island.address;
    $("d-ports").textContent = island.ports.length ? "ports " + island.ports.join(", ") : "";
    $("d-node").textContent = island.node || "–";
    $("d-branch").textContent = island.branch;
    $("d-name").textContent = island.name;
    $("d-clock-setting").textContent = island.clock.setting ? "(" + island.clock.setting + ")" : "(" + I.t("clock.real") + ")";
    var reg = island.registration;
    $("d-registration").textContent = reg && reg.registered
      ? "✓ " + I.t("reg.yes") + (reg.node_ip ? " · " + reg.node_ip : "") + (reg.registered_at ? " · " + I.formatLocal(reg.registered_at) : "")
      : I.t("reg.no");
    $("d-created").textContent = I.formatLocal(island.created_at) + " (" + I.age(island.created_at) + ")";
    var launch = island.launch, bits = [];
    if (launch.start_time) bits.push(I.t("launch.start_time") + " " + launch.start_time);
    if (launch.memory) bits.push(I.t("launch.memory") + " " + launch.memory);
    if (launch.image) bits.push(launch.image);
    if (launch.env_names.length) bits.push("env: " + launch.env_names.join(", "));
    $("d-launch").textContent = bits.join(" · ") || "–";
    var gone = island.state === "deleted";
    var canChange = island.can_change && !gone;
    $("only-owner").hidden = island.can_change || gone;
    ["restart-button", "delete-button", "clock-apply"].forEach(function (b) { $(b).disabled = !canChange; });
    if (GROUPS.changeable.indexOf(island.state) < 0) $("clock-apply").disabled = true;
    tick();
    renderProgress();
  }

  function tick() {
    if (island && island.state === "deleted") $("d-clock").textContent = "–";
    else if (island && !I.clockOwnsTime) $("d-clock").textContent = I.islandTime(island) + " UTC"; // island_clock.js: state, speed
  }

  function renderEvents() {
    var rows = events.slice().reverse().map(function (e) {
      return I.el("tr", {}, [
        I.el("td", { className: "mono", text: I.formatLocal(e.at) }),
        I.el("td", { text: (e.from_state ? I.stateName(e.from_state) + " → " : "") + I.stateName(e.to_state) }),
        I.el("td", { text: e.reason || "" }),
        I.el("td", { className: "message", text: e.message || "" }),
      ]);
    });
    $("events").replaceChildren.apply($("events"), rows);
  }

  function load() {
    return Promise.all([I.api("GET", I.islandUrl(id)), I.api("GET", I.islandUrl(id, "/events"))]).then(function (r) {
      island = r[0];
      events = r[1].events;
      render();
      renderEvents();
    });
  }

  function onTransition(item) {
    if (item.event.island_id !== id || !item.island) return;
    var next = item.island;
    if (next.registration === null) {
      next.registration = island && island.generation === next.generation ? island.registration : { registered: false };
    }
    if (item.event.reason === "ClockChanged" && I.clockReload) I.clockReload(); // a timeline step, another tab
    if (item.event.reason === "Registered" && item.current) {
      I.api("GET", I.islandUrl(id)).then(function (fresh) { island = fresh; render(); });
    }
    var newGeneration = island && next.generation !== island.generation;
    island = next;
    if (newGeneration) {
      I.api("GET", I.islandUrl(id, "/events")).then(function (r) { events = r.events; renderEvents(); renderProgress(); });
    } else if (item.event.generation === island.generation && !events.some(function (e) { return e.id === item.event.id; })) {
      events.push(item.event);
      events.sort(function (a, b) { return a.id - b.id; });
      renderEvents();
    }
    render();
  }

  function act(promise, message) {
    return promise.then(function (fresh) {
      island = fresh;
      render();
      I.toast(message || I.t("action.done"), "ok");
    }, function (e) { I.toast(e.message, "error"); });
  }

  I.detailUpdate = function (fresh) { island = fresh; render(); }; // the clock panel's answers
  $("d-copy").addEventListener("click", function () { I.copy(island.address, $("d-copy")); });

  $("delete-form").addEventListener("submit", function (event) {
    event.preventDefault();
    I.confirm(I.t("action.confirm_delete", { id: id })).then(function (ok) {
      if (ok) act(I.api("DELETE", I.islandUrl(id)));
    });
  });
  $("restart-form").addEventListener("submit", function (event) {
    event.preventDefault();
    I.confirm(I.t("action.confirm_restart", { id: id })).then(function (ok) {
      if (ok) act(I.api("POST", I.islandUrl(id, "/restart")));
    });
  });
  $("clock-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var mode = document.querySelector("input[name=mode]:checked").value;
    var text = mode === "reset" ? "reset" : $(mode === "shift" ? "clock-shift" : "clock-absolute").value.trim();
    act(I.api("POST", I.islandUrl(id, "/clock"), { clock: text })).then(function () { if (I.clockReload) I.clockReload(); });
  });
  ["clock-absolute", "clock-shift"].forEach(function (inputId) {
    $(inputId).addEventListener("focus", function () {
      document.querySelector("input[name=mode][value=" + (inputId === "clock-shift" ? "shift" : "absolute") + "]").checked = true;
    });
  });

  var logsTimer = null;
  function loadLogs() {
    var tail = $("logs-tail").value.trim();  // an emptied box means the server's default
    var url = I.islandUrl(id, "/logs?container=" + encodeURIComponent($("logs-container").value) +
                          (tail ? "&tail=" + encodeURIComponent(tail) : ""));
    return I.api("GET", url).then(function (data) {
      var pre = $("logs");
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      // a log past islands.log_limit_bytes comes cut (its start): say so where the reader looks next
      pre.textContent = (data.logs || I.t("logs.empty")) + (data.truncated ? "\n[" + data.note + "]" : "");
      pre.classList.remove("error");
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }, function (e) { $("logs").textContent = e.message; $("logs").classList.add("error"); });
  }
  $("logs-refresh").addEventListener("click", loadLogs);
  $("logs-tail").addEventListener("change", loadLogs);
  $("logs-container").addEventListener("change", loadLogs);
  $("logs-auto").addEventListener("change", function () {
    clearInterval(logsTimer);
    if (this.checked) logsTimer = setInterval(loadLogs, 3000);
  });

  load().then(function () {
    var lastId = events.length ? events[events.length - 1].id : null;
    I.live({ after: lastId, onTransition: onTransition, poll: load });
    // logs are the owner's and admins' (can_change): others would only get the 403 in the panel
    if (island.can_change && ["starting", "ready", "failed"].indexOf(island.state) >= 0) loadLogs();
  }, function (e) { I.toast(e.message, "error"); });
  setInterval(tick, 1000);
})();
