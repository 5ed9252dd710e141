/* The islands table: filters, pages, live rows, one-click copy of the address.
   One page of GET /api/islands (?limit=&offset=, per_page rows, default 100); the filters and the
   page are in the address (?scope=all&branch=&state=&deleted=1&page=2&per_page=100). Live
   transitions are queued per island and applied once per animation frame: only the changed rows
   are rebuilt (found by id in a Map), never the whole table; an island entering or leaving the
   filtered set at or before this page reloads the page (coalesced). window.islandTable counts
   what was applied (bench/islands_page.py reads it). */
(function () {
  "use strict";
  var I = window.Island;
  var PER_PAGE = 100, PER_PAGE_MAX = 1000;
  var islands = new Map(); // id -> island JSON, this page's
  var rows = new Map(); // id -> its <tr>
  var tbody = document.querySelector("#islands tbody");
  var empty = document.getElementById("empty");
  var pageInfo = document.getElementById("page-info");
  var prev = document.getElementById("page-prev"), next = document.getElementById("page-next");
  var perPageSelect = document.getElementById("per-page");
  var total = 0, lastId = 0, loading = null, reloadTimer = null, sinceLoad = null;
  var pending = new Map(), frame = 0;
  var stats = window.islandTable = { firstTableAt: 0, loads: 0, applied: 0, lastAppliedAt: 0, applyMs: 0 };

  var params = new URLSearchParams(window.location.search);
  var page = Math.max(1, parseInt(params.get("page"), 10) || 1);
  var perPage = Math.min(PER_PAGE_MAX, Math.max(1, parseInt(params.get("per_page"), 10) || PER_PAGE));
  (function restoreFilters() {
    if (params.get("scope") === "all") document.querySelector("input[name=scope][value=all]").checked = true;
    if (params.get("branch")) document.getElementById("filter-branch").value = params.get("branch");
    if (params.get("state")) document.getElementById("filter-state").value = params.get("state");
    if (params.get("deleted") === "1") document.getElementById("filter-deleted").checked = true;
    if (perPageSelect) {
      if (!Array.prototype.some.call(perPageSelect.options, function (o) { return Number(o.value) === perPage; })) {
        perPageSelect.appendChild(I.el("option", { value: String(perPage), text: String(perPage) }));
      }
      perPageSelect.value = String(perPage);
    }
  })();

  function filters() {
    return {
      mine: document.querySelector("input[name=scope]:checked").value === "mine",
      branch: document.getElementById("filter-branch").value,
      state: document.getElementById("filter-state").value,
      deleted: document.getElementById("filter-deleted").checked,
    };
  }

  function listUrl() {
    var f = filters(), q = ["limit=" + perPage, "offset=" + (page - 1) * perPage];
    if (f.mine) q.push("mine=true");
    if (f.branch) q.push("branch=" + encodeURIComponent(f.branch));
    if (f.state) q.push("state=" + encodeURIComponent(f.state));
    if (f.deleted) q.push("include_deleted=true");
    return I.apiBase + "?" + q.join("&");
  }

  /* The page's own address says the filters and the page (a link or a reload shows the same rows). */
  function remember() {
    var f = filters(), q = new URLSearchParams();
    if (!f.mine) q.set("scope", "all");
    if (f.branch) q.set("branch", f.branch);
    if (f.state) q.set("state", f.state);
    if (f.deleted) q.set("deleted", "1");
    if (page > 1) q.set("page", String(page));
    if (perPage !== PER_PAGE) q.set("per_page", String(perPage));
    var search = q.toString();
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
    }
  }

  function shown(island, state) {
    var f = filters();
    state = state || island.state;
    if (f.mine && island.owner_id !== I.userId) return false; // by id: a namesake's islands are not mine
    if (f.branch && island.branch !== f.branch) return false;
    if (f.state && state !== f.state) return false;
    if (!f.deleted && !f.state && state === "deleted") return false;
    return true;
  }

  function addressCell(island) {
    var cell = I.el("td", { className: "address" });
    if (!island.address) {
      cell.appendChild(I.el("span", { className: "muted mono", text: island.ports.length ? "…:" + island.ports.join(",") : "–" }));
      return cell;
    }
    var button = I.el("button", { type: "button", className: "copy", title: I.t("copy.copy"), "data-copy": island.address,
                                  text: island.address });
    button.addEventListener("click", function () { I.copy(island.address, button); });
    cell.appendChild(button);
    cell.appendChild(I.el("span", { className: "muted mono ports", text: " " + island.ports.slice(1).join(" ") }));
    return cell;
  }

  function registrationCell(island) {
    var reg = island.registration;
    var yes = reg && reg.registered;
    return I.el("td", { className: yes ? "reg yes" : "reg", text: yes ? "✓ " + I.t("reg.yes") : I.t("reg.no"),
                        title: yes && reg.registered_at ? I.formatLocal(reg.registered_at) : "" });
  }

  /* Time left of the lease: "3h12m" (two largest units), "45s", "expired", "–" without one. */
  function leaseLeft(iso) {
    if (!iso) return "–";
    var s = Math.floor((Date.parse(iso) - Date.now()) / 1000);
    if (!(s > 0)) return I.t("lease.expired");
    var parts = [], units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
    units.forEach(function (u) { if (s >= u[1]) { parts.push(Math.floor(s / u[1]) + u[0]); s %= u[1]; } });
    return parts.slice(0, 2).join("");  // as core.lease.time_left_text
  }

  function leaseCell(island) {
    var lease = island.lease || {};
    var ends = island.state === "deleted" ? "" : (lease.expires_at || "");
    return I.el("td", { className: "lease mono" + (lease.warned_at && ends ? " warned" : ""), "data-expires": ends,
                        title: ends ? I.formatLocal(ends) : "", text: leaseLeft(ends) });
  }

  function row(island) {
    var link = I.pageUrl(island.id);
    var tr = I.el("tr", { "data-id": island.id, "data-state": island.state, className: "s-" + island.state }, [
      I.el("td", { className: "mono" }, [I.el("a", { href: link, text: String(island.id) })]),
      I.el("td", { className: "name mono" }, [I.el("a", { href: link, text: island.name })]),
      I.el("td", { className: "owner", text: island.owner }),
      I.el("td", { text: island.branch }),
      I.el("td", { className: "state-cell" }, [I.stateBadge(island),
        island.reason && island.state !== "ready" ? I.el("small", { className: "reason", text: island.reason }) : null,
        island.idle && island.idle.idle ? I.el("small", { className: "idle", title: I.t("idle.help"),
          text: I.t("idle.badge") + " " + String(island.idle.idle_text || "").replace(/^idle /, "") }) : null]),
      I.el("td", { className: "mono", text: island.node || "–" }),
      addressCell(island),
      I.el("td", { className: "mono clock", "data-offset": (island.clock && island.clock.offset_seconds) || 0,
                   "data-badge": (island.clock && island.clock.badge) || "",
                   text: island.state === "deleted" ? "–" : I.islandTime(island) }),
      I.el("td", { className: "age", "data-since": island.created_at || "", text: I.age(island.created_at) }),
      leaseCell(island),
      I.el("td", { className: "usage mono", "data-id": island.id, text: "–" }),  // island_usage.js fills it
      I.el("td", { className: "codever mono", "data-id": island.id, text: "–" }),  // island_versions.js fills it
      registrationCell(island),
    ]);
    return tr;
  }

  function pager() {
    var first = total ? (page - 1) * perPage + 1 : 0, last = Math.min(total, (page - 1) * perPage + islands.size);
    if (pageInfo) pageInfo.textContent = I.t("page.info", { from: first, to: last, total: total });
    if (prev) prev.disabled = page <= 1;
    if (next) next.disabled = page * perPage >= total;
    empty.hidden = islands.size > 0;
  }

  function render() {
    var fragment = document.createDocumentFragment();
    rows = new Map();
    islands.forEach(function (island) {
      var tr = row(island);
      rows.set(island.id, tr);
      fragment.appendChild(tr);
    });
    tbody.replaceChildren(fragment);
    pager();
    if (!stats.firstTableAt) {
      stats.firstTableAt = performance.now();
      document.dispatchEvent(new Event("island:table")); // the cells' polls may start (I.afterTable)
    }
  }

  function tick() {
    tbody.querySelectorAll("td.clock").forEach(function (cell) {
      if (cell.textContent === "–") return;
      // the compact clock column: the island's time, and "frozen" / "x10" when not at real speed
      var badge = cell.dataset.badge === "frozen" ? I.t("clock.frozen") : cell.dataset.badge;
      cell.textContent = (cell.dataset.badge === "frozen" ? "" : I.formatUtc(new Date(Date.now() + Number(cell.dataset.offset) * 1000))) +
        (badge ? (cell.dataset.badge === "frozen" ? "" : " ") + "[" + badge + "]" : "");
    });
    tbody.querySelectorAll("td.age").forEach(function (cell) { cell.textContent = I.age(cell.dataset.since); });
    tbody.querySelectorAll("td.lease").forEach(function (cell) { cell.textContent = leaseLeft(cell.dataset.expires); });
  }

  function load() {
    if (loading) return loading;
    sinceLoad = [];
    stats.loads += 1;
    loading = I.api("GET", listUrl()).then(function (data) {
      total = data.total;
      if (!data.islands.length && total > 0 && page > 1) { // the page emptied: show the last one
        page = Math.ceil(total / perPage);
        remember();
        loading = null;
        return load();
      }
      islands = new Map(data.islands.map(function (island) { return [island.id, island]; }));
      lastId = data.islands.length ? data.islands[data.islands.length - 1].id : 0;
      render();
      var missed = sinceLoad;
      sinceLoad = null;
      loading = null;
      // transitions that came while the page was read: those after its snapshot apply on top
      missed.forEach(function (item) { if (item.event.id > data.last_event_id) queue(item); });
      return data.last_event_id;
    }, function (e) { loading = null; sinceLoad = null; throw e; });
    return loading;
  }

  function reloadSoon() {
    if (reloadTimer) return;
    reloadTimer = setTimeout(function () {
      reloadTimer = null;
      load().catch(function (e) { I.toast(e.message, "error"); });
    }, 250);
  }

  function queue(item) {
    pending.set(item.island.id, item); // the latest per island: a burst costs one row each
    if (!frame) frame = window.requestAnimationFrame(flush);
  }

  function onTransition(item) {
    var island = item.island;
    if (!island) return;
    var before = islands.get(island.id);
    if (island.registration === null) {
      var sameGeneration = before && before.generation === island.generation;
      island.registration = sameGeneration ? before.registration : { registered: false, ports: [] };
      if (item.event.reason === "Registered" && item.current) {
        island.registration = { registered: true, registered_at: item.event.at, ports: island.ports };
      }
    }
    if (sinceLoad) sinceLoad.push(item);
    item.count = (pending.has(island.id) ? pending.get(island.id).count : 0) + 1;
    queue(item);
  }

  /* Once per animation frame: the rows that changed, and whether the page must be read again. */
  function flush() {
    frame = 0;
    var started = performance.now(), applied = 0, reload = false, full = islands.size >= perPage;
    pending.forEach(function (item) {
      var island = item.island, id = island.id, tr = rows.get(id);
      applied += item.count || 1;
      var now = shown(island);
      var was = tr ? true : Boolean(item.event.from_state) && item.current && shown(island, item.event.from_state);
      if (tr && now) {
        if (before(island, islands.get(id))) return; // an older event than the row shows
        var fresh = row(island);
        tbody.replaceChild(fresh, tr);
        rows.set(id, fresh);
        islands.set(id, island);
      } else if (tr) { // left the filtered set: gone from the page; the next island moves up
        tbody.removeChild(tr);
        rows.delete(id);
        islands.delete(id);
        total -= 1;
        reload = true;
      } else if (now !== was) { // entered or left the set on another page
        total += now ? 1 : -1;
        if (!full || id <= lastId) reload = true; // ...at or before this page: its rows shift
      }
    });
    pending.clear();
    pager();
    if (reload) reloadSoon();
    stats.applied += applied;
    stats.lastAppliedAt = performance.now();
    stats.applyMs += stats.lastAppliedAt - started;
  }

  /* True when ``island`` (from an event) is older than ``current`` (a newer page read). */
  function before(island, current) {
    if (!current) return false;
    if (island.generation !== current.generation) return island.generation < current.generation;
    return Boolean(island.updated_at && current.updated_at && island.updated_at < current.updated_at);
  }

  function goTo(n) {
    page = Math.max(1, n);
    remember();
    load().catch(function (e) { I.toast(e.message, "error"); });
  }

  document.querySelectorAll("input[name=scope], #filter-branch, #filter-state, #filter-deleted").forEach(function (input) {
    input.addEventListener("change", function () { goTo(1); });
  });
  if (prev) prev.addEventListener("click", function () { goTo(page - 1); });
  if (next) next.addEventListener("click", function () { goTo(page + 1); });
  if (perPageSelect) perPageSelect.addEventListener("change", function () {
    var first = (page - 1) * perPage;
    perPage = Number(perPageSelect.value) || PER_PAGE;
    goTo(Math.floor(first / perPage) + 1); // keep the first row in view
  });

  remember();
  load().then(function (lastEventId) {
    I.live({ after: lastEventId, onTransition: onTransition, poll: load });
  }, function (e) {
    I.toast(e.message, "error");
    I.live({ after: null, onTransition: onTransition, poll: load });
  });
  setInterval(tick, 1000);
})();
