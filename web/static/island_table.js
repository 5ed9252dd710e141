/* The islands table: filters, live rows, one-click copy of the address. */
(function () {
  "use strict";
  var I = window.Island;
  var islands = new Map(); // id -> island JSON
  var tbody = document.querySelector("#islands tbody");
  var empty = document.getElementById("empty");

  function filters() {
    return {
      mine: document.querySelector("input[name=scope]:checked").value === "mine",
      branch: document.getElementById("filter-branch").value,
      state: document.getElementById("filter-state").value,
      deleted: document.getElementById("filter-deleted").checked,
    };
  }

  function listUrl() {
    var f = filters(), q = [];
    if (f.mine) q.push("mine=true");
    if (f.branch) q.push("branch=" + encodeURIComponent(f.branch));
    if (f.state) q.push("state=" + encodeURIComponent(f.state));
    if (f.deleted) q.push("include_deleted=true");
    return I.apiBase + (q.length ? "?" + q.join("&") : "");
  }

  function shown(island) {
    var f = filters();
    if (f.mine && island.owner_id !== I.userId) return false; // by id: a namesake's islands are not mine
    if (f.branch && island.branch !== f.branch) return false;
    if (f.state && island.state !== f.state) return false;
    if (!f.deleted && island.state === "deleted") return false;
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

  function render() {
    var rows = Array.from(islands.values()).filter(shown).sort(function (a, b) { return a.id - b.id; });
    tbody.replaceChildren.apply(tbody, rows.map(row));
    empty.hidden = rows.length > 0;
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
    return I.api("GET", listUrl()).then(function (data) {
      islands = new Map(data.islands.map(function (island) { return [island.id, island]; }));
      render();
      return data.last_event_id;
    });
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
    islands.set(island.id, island);
    render();
  }

  document.querySelectorAll("input[name=scope], #filter-branch, #filter-state, #filter-deleted").forEach(function (input) {
    input.addEventListener("change", function () { load().catch(function (e) { I.toast(e.message, "error"); }); });
  });

  load().then(function (lastId) {
    I.live({ after: lastId, onTransition: onTransition, poll: load });
  }, function (e) {
    I.toast(e.message, "error");
    I.live({ after: null, onTransition: onTransition, poll: load });
  });
  setInterval(tick, 1000);
})();
