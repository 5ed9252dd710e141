"""Idle islands (issue 14): the batched check, its thread, the expiry, and what the faces show.

``IslandService.idle`` is an IdleService. ``check_all()`` probes the ready islands that are DUE
(core.idle.due: last probed at least islands.idle_probe_every ago, oldest first, at most
core.idle.run_cap of them) through kube/idle_probe.py (one remote command per
islands.idle_batch_max pods, one kubectl exec per pod on the master), moves
each island's record with core.idle.advance, stores the batch in one transaction, and then, for
islands that became idle: an audit entry (idle reaper, "idle"); with islands.idle_expire, the
Notifier's "idle" warning (claimed once in MySQL), and idle_grace later, if still idle, the
delete (reason IdleExpired). A run is claimed in MySQL (store/idle.py), so several web workers
and the recover job run it once per islands.idle_check_interval; ``force`` runs it anyway and
probes every ready island (`island-ssh idle --check`).

Why not every island every run: each pod costs a kubectl exec on the master (a Go process and an
exec session through the API server and kubelet, ~100 ms of CPU); at 500-1,000 islands a probe of
all of them every minute took a core. idle_after is hours, so probing each island every
idle_after / 12 notices idleness at most that late, and the execs per run are
ready x interval / idle_probe_every (docs/benchmarks.md "Idle check").
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from island_ssh.core import idle as core
from island_ssh.core.errors import ConfigError, IslandError
from island_ssh.core.names import SERVER_CONTAINER
from island_ssh.kube.idle_probe import IdleProbe, Target

log = logging.getLogger(__name__)

RUN_NAME = "idle-check"
GAP_INTERVALS = 3
"""A check more than this many probe periods (max(idle_check_interval, idle_probe_every)) after the
last known one starts the quiet period anew: a gap is the check not running, not an island that
simply was not due."""


@dataclass
class IdleReport:
    """One check_all: what it saw and did (``idle --check --json``)."""

    ran: bool = True
    checked: int = 0
    """Islands probed by this run."""
    ready: int = 0
    """Ready islands; those not probed were not due (or beyond the run's cap)."""
    unknown: dict[int, str] = field(default_factory=dict)
    active: list[int] = field(default_factory=list)
    idle: list[int] = field(default_factory=list)
    became_idle: list[int] = field(default_factory=list)
    warned: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    remote_commands: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"ran": self.ran, "checked": self.checked, "ready": self.ready, "remote_commands": self.remote_commands,
                "active": self.active, "idle": self.idle, "became_idle": self.became_idle,
                "warned": self.warned, "expired": self.expired,
                "unknown": {str(k): v for k, v in sorted(self.unknown.items())}, "seconds": round(self.seconds, 3)}

    def lines(self) -> list[str]:
        if not self.ran:
            return ["idle check: ran by another worker less than islands.idle_check_interval ago (--check forces it)"]
        due = "" if self.ready <= self.checked else f" (of {self.ready}; the others not due)"
        out = [f"idle check: {self.checked} ready islands{due} in {self.remote_commands} remote command(s), "
               f"{self.seconds:.2f} s: {len(self.active)} with players, {len(self.idle)} idle, "
               f"{len(self.unknown)} unknown"]
        for island_id, why in sorted(self.unknown.items()):
            out.append(f"  island {island_id}: unknown ({why})")
        if self.became_idle:
            out.append("  became idle: " + ", ".join(map(str, self.became_idle)))
        if self.warned:
            out.append("  warned (idle): " + ", ".join(map(str, self.warned)))
        if self.expired:
            out.append("  deleted (IdleExpired): " + ", ".join(map(str, self.expired)))
        return out


class IdleService:
    def __init__(self, service) -> None:
        self.service = service
        s = service.settings.islands
        self.enabled = str(getattr(s, "idle_after", "2h")).strip().lower() not in ("off", "")
        self.idle_after = core.duration_setting("idle_after", s.idle_after) if self.enabled else 0.0
        self.grace = core.duration_setting("idle_grace", getattr(s, "idle_grace", "30m"))
        self.interval = core.duration_setting("idle_check_interval", getattr(s, "idle_check_interval", "1m"))
        self.expire = bool(getattr(s, "idle_expire", False))
        self.period = core.probe_period(getattr(s, "idle_probe_every", "auto"), idle_after=self.idle_after,
                                        interval=self.interval)
        batch = getattr(s, "idle_batch_max", 50)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1000:
            raise ConfigError(f"islands.idle_batch_max: {batch!r}; a whole number from 1 to 1000")
        self.batch_max = batch
        # (island, generation) -> when a probe of it last came back unknown: it stays due in MySQL
        # (checked_at moves only on a known answer), so this keeps a broken pod from heading every
        # run's list; a hint for this worker's order only, not shared
        self._tried: dict[tuple[int, int], datetime] = {}
        self.probe = IdleProbe(service.kubectl, SERVER_CONTAINER, batch_max=batch)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def store(self):
        return self.service.store

    # -- the check -----------------------------------------------------------------------------
    def check_all(self, force: bool = False) -> IdleReport:
        """One batched check of the ready islands that are due; ``force``: of every one."""
        if not self.enabled:
            return IdleReport(ran=False)
        now = self.store.idle.claim_run(RUN_NAME, self.interval, force=force)
        if now is None:
            return IdleReport(ran=False)
        rows = [r for r in self.service.list(states=["ready"]) if r.pod_name and r.ports]
        chosen = rows if force else self.due(rows, now)
        report = self.check(chosen)
        report.ready = len(rows)
        return report

    def due(self, rows, now: datetime) -> list:
        """The rows a (not forced) run probes: core.idle.due over each island's last probe (its last
        known check, else its ready time; or a later unknown one of this worker)."""
        live = {(r.island_id, r.generation) for r in rows}
        self._tried = {k: v for k, v in self._tried.items() if k in live}
        by_key, candidates = {}, []
        for row in rows:
            key = (row.island_id, row.generation)
            seen = [t for t in (core.record_of(row).checked_at or row.ready_at, self._tried.get(key)) if t is not None]
            by_key[key] = row
            candidates.append((key, max(seen) if seen else None))
        cap = core.run_cap(len(rows), batch_max=self.batch_max, interval=self.interval, period=self.period)
        return [by_key[k] for k in core.due(candidates, now=now, period=self.period, cap=cap)]

    def check(self, rows, now: datetime | None = None) -> IdleReport:
        """Check these ready rows (check_all's body; tests pass rows): what the probe saw counts at
        ``now``, by default the database's clock right after the probe."""
        started = time.monotonic()
        report = IdleReport()
        rows = [r for r in rows if r.pod_name and r.ports]
        counter = getattr(self.service.kubectl, "commands", None)
        before = sum(counter.values()) if counter is not None else 0
        seen = self.probe.observe([Target(r.island_id, r.pod_name, tuple(r.ports)) for r in rows]) if rows else {}
        report.remote_commands = (sum(counter.values()) - before) if counter is not None else 0
        report.checked = report.ready = len(rows)
        if now is None:
            now = self.store.idle.now()
        saves, fresh = [], []
        max_gap = GAP_INTERVALS * max(self.interval, self.period) + 60
        for row in rows:
            prev = core.record_of(row)
            obs = seen.get(row.island_id)
            if obs is None or not obs.known:
                report.unknown[row.island_id] = obs.error if obs else "not probed"
                self._tried[(row.island_id, row.generation)] = now
                continue
            self._tried.pop((row.island_id, row.generation), None)
            new = core.advance(prev, obs, now=now, ready_at=row.ready_at, idle_after=self.idle_after, max_gap=max_gap)
            saves.append((row.island_id, row.generation, new))
            (report.active if obs.active else report.idle if new.idle else []).append(row.island_id)
            if new.idle and not prev.idle:
                report.became_idle.append(row.island_id)
            fresh.append((row, new))
        self.store.idle.save(saves)
        for row, new in fresh:
            if new.idle and row.island_id in report.became_idle:
                self._audit("idle", row, f"no established connection on ports "
                                         f"{'/'.join(map(str, row.ports))} since {_iso(new.idle_since)}")
            step = core.expiry_step(new, now=now, expire=self.expire, grace=self.grace)
            if step == "warn":
                self._warn(row, new, report)
            elif step == "expire":
                self._expire(row, new, report)
        report.seconds = time.monotonic() - started
        return report

    def _warn(self, row, record: core.IdleRecord, report: IdleReport) -> None:
        at = self.store.idle.claim_warning(row.island_id, row.generation)
        if at is None:
            return  # another worker warned it, or it changed meanwhile
        report.warned.append(row.island_id)
        expires = at.timestamp() + self.grace
        detail = (f"idle since {_iso(record.idle_since)}; deleted at {_iso_ts(expires)} unless a player "
                  f"connects to ports {'/'.join(map(str, row.ports))}")
        self._audit("idle", row, "warning: " + detail)
        notify = getattr(self.service, "notify", None)
        if notify is not None:
            notify.emit("idle", row, idle_since=_iso(record.idle_since), expires_at=_iso_ts(expires), detail=detail,
                        key=f"idle-{row.island_id}-{row.generation}-{_iso(record.idle_since)}")

    def _expire(self, row, record: core.IdleRecord, report: IdleReport) -> None:
        """Delete the island (reason IdleExpired): claimed by the conditional move to terminating."""
        message = (f"idle since {_iso(record.idle_since)} (no established connection on its ports for "
                   f"{core.idle_text(self.idle_after)}); deleted by the idle reaper")
        if not self.store.transition(row.island_id, row.generation, "terminating", "IdleExpired", message,
                                     expected_from="ready"):
            return
        report.expired.append(row.island_id)
        self._audit("expire", row, "IdleExpired: " + message)
        try:
            self.service.kubectl.delete_pod(row.pod_name, wait=True, timeout=120)
        except IslandError as exc:
            log.warning("island %s: idle expiry could not delete its pod now (%s); the tracker or recover "
                        "settles it", row.island_id, exc)
            return
        drop = getattr(self.service, "_drop_token_secret", None)
        if drop is not None:
            drop(row)
        self.store.transition(row.island_id, row.generation, "deleted", "IdleExpired", message)
        notify = getattr(self.service, "notify", None)
        if notify is not None:
            notify.emit("expired", row, reason="IdleExpired", detail=message,
                        key=f"idle-expired-{row.island_id}-{row.generation}")

    def _audit(self, action: str, row, detail: str) -> None:
        audit = getattr(self.service, "audit", None)
        if audit is None:
            return
        try:
            from island_ssh.core.audit import Actor
            audit.record(Actor.system("idle-reaper"), action, row.island_id, row.generation, detail)
        except Exception as exc:  # noqa: BLE001 -- the check stands whatever the audit log does
            log.warning("idle: audit of island %s failed: %s", row.island_id, exc)

    # -- what the faces show -------------------------------------------------------------------
    def status(self, row, now: datetime) -> dict:
        """The island's idleness for the API, the page and the CLI (core.idle.as_json)."""
        out = core.as_json(core.record_of(row), now)
        if row.state != "ready":
            out.update(idle=False, idle_seconds=None, idle_text="")
        return out

    def listing(self, all_ready: bool = False) -> dict:
        """GET /api/idle and `island-ssh idle`: the idle islands (every ready one with ``all_ready``)."""
        now = self.store.idle.now()
        items = []
        for row in self.service.list(states=["ready"]):
            st = self.status(row, now)
            if st["idle"] or all_ready:
                items.append({"id": row.island_id, "owner": row.owner, "owner_id": row.owner_id, "branch": row.branch,
                              "ports": list(row.ports), **st})
        return {"enabled": self.enabled, "idle_after": core.idle_text(self.idle_after) if self.enabled else "off",
                "idle_after_seconds": self.idle_after, "expire": self.expire,
                "grace_seconds": self.grace, "check_interval_seconds": self.interval,
                "probe_every_seconds": self.period,
                "now": _iso(now), "islands": items}

    # -- the thread of a long-running service ----------------------------------------------------
    def start(self) -> None:
        """Run check_all every idle_check_interval on a daemon thread (web, serve)."""
        if not self.enabled or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="island-idle-check", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                report = self.check_all()
                if report.ran and (report.became_idle or report.expired or report.unknown):
                    log.info("; ".join(report.lines()))
            except Exception as exc:  # noqa: BLE001 -- the next interval tries again
                log.warning("idle check failed: %s", exc)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _iso_ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")
