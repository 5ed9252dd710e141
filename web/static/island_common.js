/* island_ssh pages: shared helpers (labels, API calls, live updates, copy, dialogs).
   Plain browser JavaScript, no build step, no third-party code. Text from the server is always
   inserted with textContent, never as HTML. */
(function () {
  "use strict";
  var body = document.body;
  var I18N = JSON.parse(document.getElementById("island-i18n").textContent);
  var Island = (window.Island = {});
  /* {states, groups: {progress, failed, gone, changeable, final, waiting}, containers}: the server's
     island_ssh.core.names, embedded in the page (also GET /api/vocabulary); never copied here. */
  Island.vocabulary = JSON.parse(document.getElementById("island-vocabulary").textContent);

  Island.user = body.dataset.user || ""; // display name: shown, never compared
  Island.userId = body.dataset.userId || ""; // what "mine" compares with island.owner_id
  Island.admin = body.dataset.admin === "true";
  Island.apiBase = body.dataset.api; // .../api/islands
  Island.eventsUrl = body.dataset.events; // .../api/events
  Island.pagesBase = body.dataset.pages; // .../ (the islands table)

  Island.t = function (key, values) {
    var text = I18N.labels[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  };
  Island.stateName = function (state) { return I18N.states[state] || state; };
  Island.explainReason = function (reason) { return I18N.reasons[reason] || ""; };

  Island.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.slice(0, 5) === "data-") node.setAttribute(name, value);
      else node[name] = value;
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  };

  /* fetch() with the CSRF header; resolves to the JSON body, rejects with Error(message). */
  Island.api = function (method, url, payload) {
    var headers = { Accept: "application/json" };
    if (body.dataset.csrf) headers["X-CSRF-Token"] = body.dataset.csrf;
    var options = { method: method, headers: headers, credentials: "same-origin" };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || response.statusText || Island.t("error.network"));
          error.status = response.status;
          error.name = data.error || "Error";
          throw error;
        }
        return data;
      });
    }, function () { throw new Error(Island.t("error.network")); });
  };
  Island.islandUrl = function (id, tail) { return Island.apiBase + "/" + id + (tail || ""); };
  Island.pageUrl = function (id) { return Island.pagesBase + "islands/" + id; };

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  Island.formatUtc = function (date) {
    return date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate()) + " " +
      pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes()) + ":" + pad(date.getUTCSeconds());
  };
  Island.formatLocal = function (iso) {
    if (!iso) return "–";
    var d = new Date(iso);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  };
  Island.islandTime = function (island) {
    var offset = (island.clock && island.clock.offset_seconds) || 0;
    return Island.formatUtc(new Date(Date.now() + offset * 1000));
  };
  Island.age = function (iso) {
    if (!iso) return "–";
    var s = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 1000));
    if (s < 60) return Island.t("age.s", { n: s });
    if (s < 3600) return Island.t("age.m", { n: Math.floor(s / 60) });
    if (s < 86400) return Island.t("age.h", { n: Math.floor(s / 3600) });
    return Island.t("age.d", { n: Math.floor(s / 86400) });
  };

  Island.toast = function (message, kind) {
    var toast = document.getElementById("toast");
    toast.textContent = message;
    toast.className = "toast " + (kind || "ok");
    toast.hidden = false;
    clearTimeout(Island._toastTimer);
    Island._toastTimer = setTimeout(function () { toast.hidden = true; }, kind === "error" ? 8000 : 2500);
  };

  /* Copy text; the button says "Copied" (or asks to copy by hand when the browser refuses). */
  Island.copy = function (text, button) {
    function done(ok) {
      var label = button.dataset.label || button.textContent;
      button.dataset.label = label;
      button.textContent = Island.t(ok ? "copy.copied" : "copy.failed");
      button.classList.toggle("copied", ok);
      body.dataset.lastCopied = ok ? text : "";
      setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
    }
    function fallback() {
      var area = Island.el("textarea", { value: text, readOnly: true, className: "offscreen" });
      body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      body.removeChild(area);
      done(ok);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  };

  Island.confirm = function (text) {
    var dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-cancel").textContent = I18N.lang === "zh" ? "取消" : "Cancel";
    document.getElementById("confirm-ok").textContent = I18N.lang === "zh" ? "确定" : "OK";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function once() {
        dialog.removeEventListener("close", once);
        resolve(dialog.returnValue === "ok");
      });
      dialog.returnValue = "";
      dialog.showModal();
    });
  };

  Island.stateBadge = function (island) {
    var badge = Island.el("span", { className: "state s-" + island.state, text: Island.stateName(island.state) });
    if (island.reason && island.state !== "ready") {
      var why = Island.explainReason(island.reason);
      badge.title = island.reason + (why ? ": " + why : "") + (island.message ? "\n" + island.message : "");
    }
    return badge;
  };

  /* Run ``fn`` once the islands table has drawn its first page (island_table.js says so), or after
     3 s at the latest: the cells' own polls (usage, code versions) wait so that the table's
     request is not slowed by theirs on a busy server. */
  Island.afterTable = function (fn) {
    var done = false;
    function once() { if (!done) { done = true; fn(); } }
    if (window.islandTable && window.islandTable.firstTableAt) { once(); return; }
    document.addEventListener("island:table", once);
    setTimeout(once, 3000);
  };

  /* Cells of the islands table filled from one list polled for the rows the table shows (usage,
     code versions): GET <api>/<path>?ids=<the shown rows' ids> -> {"islands": [{id, ...}]}, so a
     poll costs one page however many islands there are; each poll repaints every td.<cellClass>
     with paint(cell, pick(item)). A live update that rebuilds a row paints only that row's cell;
     rows of ids the last poll did not ask for (another page, an island entering this one) bring
     the next poll forward, once for the whole redraw. */
  Island.pollCells = function (cellClass, path, pick, paint, refresh) {
    var table = document.querySelector("#islands tbody");
    if (!table) return;
    var byId = new Map(), asked = new Set(), started = false, soon = 0, sent = 0, answered = 0;
    var url = Island.apiBase.replace(/\/islands$/, "") + path;
    var paintCell = function (cell) { paint(cell, byId.get(Number(cell.dataset.id))); };
    var shownIds = function () {
      var ids = new Set();
      table.querySelectorAll("td." + cellClass).forEach(function (cell) { ids.add(Number(cell.dataset.id)); });
      return Array.from(ids).sort(function (a, b) { return a - b; });
    };
    var poll = function () {
      clearTimeout(soon);
      soon = 0;
      var ids = shownIds(), mine = ++sent;
      asked = new Set(ids);
      if (!ids.length) { byId = new Map(); return; } // an empty page asks nothing
      Island.api("GET", url + "?ids=" + ids.join(",")).then(function (data) {
        if (mine < answered) return; // a newer poll already answered
        answered = mine;
        byId = new Map(data.islands.map(function (item) { return [item.id, pick(item)]; }));
        table.querySelectorAll("td." + cellClass).forEach(paintCell);
      }, function () {});
    };
    new MutationObserver(function (records) {
      var unasked = false;
      records.forEach(function (record) {
        record.addedNodes.forEach(function (tr) {
          var cell = tr.querySelector && tr.querySelector("td." + cellClass);
          if (!cell) return;
          paintCell(cell);
          if (!asked.has(Number(cell.dataset.id))) unasked = true;
        });
      });
      if (unasked && started && !soon) soon = setTimeout(poll, 300);
    }).observe(table, { childList: true });
    Island.afterTable(function () { started = true; poll(); setInterval(poll, refresh); });
  };

  /* Live transitions: server-sent events, polling while they are unavailable.
     options: after (event id to resume from), onTransition(item), poll() -> Promise. */
  Island.live = function (options) {
    var status = document.getElementById("live-status");
    var source = null, pollTimer = null, retryTimer = null;
    var lastId = options.after;
    function setMode(mode) {
      Island.liveMode = mode;
      body.dataset.live = mode;
      if (status) {
        status.dataset.mode = mode;
        status.textContent = Island.t({ live: "table.live", polling: "table.polling" }[mode] || "table.offline");
      }
    }
    function startPolling() {
      if (pollTimer) return;
      setMode("polling");
      pollTimer = setInterval(function () { options.poll().catch(function () { setMode("offline"); }); }, 3000);
    }
    function stopPolling() { clearInterval(pollTimer); pollTimer = null; }
    function connect() {
      if (!window.EventSource) { startPolling(); return; }
      var url = Island.eventsUrl + (lastId !== undefined && lastId !== null ? "?after=" + lastId : "");
      source = new EventSource(url, { withCredentials: true });
      source.addEventListener("hello", function () { stopPolling(); setMode("live"); });
      source.addEventListener("transition", function (e) {
        if (e.lastEventId) lastId = Number(e.lastEventId);
        options.onTransition(JSON.parse(e.data));
      });
      source.addEventListener("resync", function () { options.poll(); });
      source.onerror = function () {
        if (source.readyState === EventSource.CLOSED) {
          // refused (busy or logged out): poll, and try the stream again later
          source = null;
          startPolling();
          clearTimeout(retryTimer);
          retryTimer = setTimeout(connect, 30000);
        } else if (Island.liveMode !== "live") {
          startPolling();
        }
      };
    }
    setMode("connecting");
    connect();
    return { close: function () { if (source) source.close(); stopPolling(); clearTimeout(retryTimer); } };
  };
})();
