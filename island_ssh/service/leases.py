"""Leases (issue 14): every island ends; ``IslandService.leases`` extends, warns and expires them.

* ``extend(island_id, text, user)``: ``+4h`` adds to the end, ``8h`` ends it 8 h from now; never
  further ahead than ``islands.lease_max`` from now (core.lease words the refusal).
* ``run_once()``: one reaper pass: gives live islands without a lease the default one, claims and
  sends the warnings due (``islands.lease_warning`` before the end: a ``LeaseWarning`` line in the
  island's history, the Notifier's "lease-warning", the audit's "lease-warning"), then deletes the
  islands whose lease has ended (``terminating``/``LeaseExpired``, the pod deleted, then
  ``deleted``/``LeaseExpired``; "expired" and the audit's "expire"). An island is never expired
  before its warning was sent: one not yet warned is warned in this pass, expired in the next.
* ``LeaseReaper``: that pass every ``islands.lease_check_interval`` s on a thread of each
  long-running service (``wiring.build_runtime(with_tracker=True)``); the recover job (cron)
  warns the same way and plans the expiries itself (core.recovery_plan, kind ``lease_expired``).

Several workers: MySQL decides who acts (store/leases.py): a warning is claimed under the row
lock, an expiry by the conditional move to ``terminating``; each happens once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from island_ssh.core import lease as leases
from island_ssh.core.errors import IslandError, IslandNotFound, InvalidInput
from island_ssh.store.leases import WAITING_STATES

log = logging.getLogger(__name__)

REAPER = "lease-reaper"


class System(str):
    """A job of island_ssh's own acting (the lease reaper, the recover job), not a user id."""


REAPER_JOB, RECOVER_JOB = System(REAPER), System("recover")


def _actor(user):
    """The audit's Actor for ``user`` (None: the operator; a System: that job), or None while
    core.audit is absent."""
    try:
        from island_ssh.core.audit import Actor
    except ImportError:  # pragma: no cover - the audit helper's module not there yet
        return None
    return Actor.system(str(user)) if isinstance(user, System) else Actor.of(user)


def _who(user) -> str:
    actor = _actor(user)
    if actor is not None:
        return actor.label()
    return "an operator" if user is None else str(getattr(user, "name", user))


@dataclass
class LeasePass:
    """What one reaper pass did (``island-ssh leases reap --json``, the logs)."""
    given_default: int = 0
    warned: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"given_default": self.given_default, "warned": self.warned, "expired": self.expired,
                "skipped": self.skipped, "failed": {str(k): v for k, v in self.failed.items()}}


class LeaseService:
    """``IslandService.leases``."""

    def __init__(self, service) -> None:
        self.service = service
        self.policy = leases.policy_from(service.islands)  # ConfigError at start, naming the setting

    @property
    def store(self):
        return self.service.store

    # -- reads ---------------------------------------------------------------------------------
    def launch_seconds(self, text: str | None) -> int:
        """A launch's lease in seconds (None/empty: islands.lease_default); InvalidInput if refused."""
        return leases.launch_seconds(text, self.policy)

    def lease_json(self, row, now: datetime | None = None) -> dict:
        return leases.lease_json(getattr(row, "lease_expires_at", None), getattr(row, "lease_warned_at", None),
                                 now or datetime.now(timezone.utc))

    def time_left(self, row, now: datetime | None = None) -> str:
        return leases.time_left_text(getattr(row, "lease_expires_at", None), now or datetime.now(timezone.utc))

    def policy_json(self) -> dict:
        p = self.policy
        return {"default": leases.format_duration(p.default), "max": leases.format_duration(p.maximum),
                "warning": leases.format_duration(p.warning), "min": leases.format_duration(p.minimum),
                "max_counts_from": "now"}

    # -- extend --------------------------------------------------------------------------------
    def extend(self, island_id: int, text: str, user=None):
        """``+4h`` (added to the end) or ``8h`` (from now); the island's row as it is after."""
        leases.parse_duration(text)  # a bad text is refused before anything is read
        row = self.service._owned(island_id, user)
        if row.state == "terminating":
            raise InvalidInput(f"island {island_id} is being deleted; there is no lease left to extend",
                               island_id=island_id)
        who = _who(user)

        def compute(current, now):
            end, ask = leases.extended_expiry(island_id, text, current.lease_expires_at, now, self.policy)
            return end, f"lease {ask.shown}: now ends {leases.format_utc(end)} (by {who})"

        new = self.store.leases.extend(island_id, row.generation, compute)
        if new is None:
            raise IslandNotFound(f"island {island_id} changed or was deleted meanwhile; look again",
                                 island_id=island_id)
        self._audit(user, "extend", new, f"{text.strip()} -> ends {leases.format_utc(new.lease_expires_at)}")
        return new

    # -- the reaper's pass ---------------------------------------------------------------------
    def run_once(self, expire: bool = True) -> LeasePass:
        """One pass (see the module docstring); never raises for one island's failure."""
        result = LeasePass()
        result.given_default = self.store.leases.assign_missing(self.policy.default)
        result.warned = [r.island_id for r in self.warn_due()]
        if expire:
            self.expire_due(result)
        return result

    def warn_due(self) -> list:
        """Claim and send the warnings due (this worker's share); the rows warned."""
        policy = self.policy

        def describe(row, now):
            left = leases.time_left_text(row.lease_expires_at, now)
            return (f"lease ends {leases.format_utc(row.lease_expires_at)} ({left} left); extend it: "
                    f"island-ssh extend {row.island_id} +4h, or the page's extend button")

        warned = self.store.leases.claim_warnings(policy.warning, describe)
        for row in warned:
            expires = leases.format_utc(row.lease_expires_at)
            self._notify("lease-warning", row, expires_at=expires, actor="lease reaper",
                         key=f"lease-warning:{row.island_id}:{row.generation}:{row.lease_expires_at.isoformat()}")
            self._audit(REAPER_JOB, "lease-warning", row, f"lease ends {expires}")
        return warned

    def expire_due(self, result: LeasePass | None = None) -> LeasePass:
        result = result or LeasePass()
        _, due = self.store.leases.due_expiries()
        for row in due:
            if row.state in WAITING_STATES or row.lease_warned_at is None:
                result.skipped.append(row.island_id)  # apply in flight / warning first: next pass
                continue
            try:
                if self._expire(row):
                    result.expired.append(row.island_id)
                else:
                    result.skipped.append(row.island_id)
            except IslandError as exc:
                result.failed[row.island_id] = exc.message
                log.warning("lease reaper: island %s: %s", row.island_id, exc.message)
        return result

    def _expire(self, row) -> bool:
        message = f"lease ended {leases.format_utc(row.lease_expires_at)}; deleted by the lease reaper"
        # the claim: only one worker (or recover) moves it out of its state
        if not self.store.transition(row.island_id, row.generation, "terminating", "LeaseExpired", message,
                                     expected_from=row.state):
            return False
        if row.pod_name:
            self.service.kubectl.delete_pod(row.pod_name, wait=True, timeout=120)
            self.service._drop_token_secret(row)
        # the tracker may have recorded the DELETED event already (keeping LeaseExpired: statemachine)
        self.store.transition(row.island_id, row.generation, "deleted", "LeaseExpired", message,
                              expected_from="terminating")
        self.expired(row, REAPER_JOB, message)
        return True

    def expired(self, row, by: System = RECOVER_JOB, message: str = "") -> None:
        """After an island was deleted for its lease (by the reaper, or the recover job)."""
        expires = leases.format_utc(row.lease_expires_at) if row.lease_expires_at else ""
        self._notify("expired", row, expires_at=expires, actor="lease reaper" if by == REAPER else "recover job",
                     key=f"expired:{row.island_id}:{row.generation}")
        self._audit(by, "expire", row, message)

    # -- the optional helpers ------------------------------------------------------------------
    def _notify(self, event: str, row, **fields) -> None:
        notify = getattr(self.service, "notify", None)
        if notify is None:
            return
        try:
            notify.emit(event, row, **fields)
        except Exception:  # noqa: BLE001 - the Notifier never raises; an older one must not either
            log.exception("lease: notifying %s failed", event)

    def _audit(self, user, action: str, row, detail: str) -> None:
        audit = getattr(self.service, "audit", None)
        actor = _actor(user)
        if audit is None or actor is None:
            return
        audit.record(actor, action, row.island_id, row.generation, detail)


class LeaseReaper:
    """``LeaseService.run_once`` every ``interval`` s on a daemon thread; one pass at a time per
    database (a MySQL named lock; the per-island claims make even overlapping passes safe)."""

    LOCK = "island_ssh.leases.reaper"

    def __init__(self, service, interval: float | None = None) -> None:
        self.service = service
        self.interval = float(interval if interval is not None else service.islands.lease_check_interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.last: LeasePass | None = None
        self.last_error: str | None = None

    def start(self) -> "LeaseReaper":
        if self._thread is None and self.interval > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="island-lease-reaper", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_pass(self) -> LeasePass | None:
        with self.service.store.named_lock(self.LOCK, timeout=0) as acquired:
            if not acquired:
                return None
            return self.service.leases.run_once()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = self.run_pass()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - the database restarting must not end the thread
                self.last_error = str(exc)
                log.warning("lease reaper pass failed (%s); next in %.0f s", exc, self.interval)
            self.passes += 1
            self._stop.wait(self.interval)
