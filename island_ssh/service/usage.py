"""Per-island resource use (issue 15): ``IslandService.usage`` is a UsageService.

One poll of the metrics API serves every island: ``Kubectl.top_pods`` (ONE ``kubectl get --raw
/apis/metrics.k8s.io/v1beta1/namespaces/NS/pods?labelSelector=<managed-by>`` over the SSH shell)
returns every island pod's use; it is shared by concurrent readers and kept
``islands.usage_cache_seconds`` (SingleFlight), so 200 islands on a page and their API reads cost
one kubectl call per interval, not one per island. core.usage shapes each island's answer.

Without metrics-server (the group missing: 404) every island says "not available" with the reason;
so does a failed poll (Forbidden without the right, metrics-server down, the master unreachable):
resource use is a view, never an error of the page or API. A failed poll is kept as briefly as a
good one, so a broken master is not asked again on every page load.

``ids`` (GET /api/usage?ids=3,5, `island-ssh top 3 5`) answers for those islands only, read by id in
one query: the islands page asks for the rows it shows, so its poll costs one page at any fleet size.
``parse_island_ids`` is the one reading of such a list for every face (also code_versions.py).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Callable, Iterable

from island_ssh.core import usage as core
from island_ssh.core.errors import Forbidden, InvalidInput, IslandError
from island_ssh.core.names import FREE_STATE, MAX_ID
from island_ssh.service.batching import SingleFlight

log = logging.getLogger(__name__)

NO_METRICS = "the cluster has no metrics API (install metrics-server for `kubectl top`)"
MAX_IDS = 1000  # a page of the table at most (service.listing.MAX_PAGE)
_ID_DIGITS = len(str(MAX_ID))


def parse_island_ids(items: Iterable[str], name: str = "ids") -> list[int]:
    """Island ids from text: each item one id or several separated by commas ("3,5,12"); sorted,
    without repeats. ASCII digits only (``int`` would take "３", " 3", "+3" and "3_0"), each at most
    MAX_ID, at most MAX_IDS of them; anything else is InvalidInput naming ``name``."""
    parts = [part for item in items for part in str(item).split(",")]
    if len(parts) > MAX_IDS:
        raise InvalidInput(f"{name}: {len(parts)} ids; at most {MAX_IDS} per request")
    if parts == [""]:
        raise InvalidInput(f"{name} is empty; give island ids separated by commas (3,5,12) or leave it out")
    for part in parts:
        if part == "":
            raise InvalidInput(f"{name}: an empty item; give island ids separated by single commas (3,5,12)")
        if not (part.isascii() and part.isdigit() and len(part) <= _ID_DIGITS) or int(part) > MAX_ID:
            raise InvalidInput(f"{name}: {part[:40]!r} is not an island id (a whole number from 0 to {MAX_ID})")
    return sorted({int(part) for part in parts})


def checked_island_ids(ids: Iterable[int], name: str = "ids") -> list[int]:
    """A caller's list of ids as the service takes it: ints 0..MAX_ID, at most MAX_IDS; sorted, unique."""
    ids = list(ids)
    if len(ids) > MAX_IDS:
        raise InvalidInput(f"{name}: {len(ids)} ids; at most {MAX_IDS} per request")
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= MAX_ID:
            raise InvalidInput(f"{name}: {str(i)[:40]!r} is not an island id (a whole number from 0 to {MAX_ID})")
    return sorted(set(ids))


def live_rows(service, ids: Iterable[int] | None = None) -> list:
    """The islands that are not deleted, oldest id first; with ``ids`` only those (one query by id,
    not the whole table read and then dropped). An id with no island, or a deleted one, is left out."""
    if ids is None:
        return [r for r in service.list() if r.state != FREE_STATE]
    return [r for r in service.store.get_many(checked_island_ids(ids)) if r is not None and r.state != FREE_STATE]


class UsageService:
    def __init__(self, service, wall: Callable[[], float] = time.time) -> None:
        self.service = service
        islands = service.settings.islands
        self.warning = core.check_warning_fraction(getattr(islands, "memory_warning", 0.8))
        self.ttl = float(getattr(islands, "usage_cache_seconds", 5.0))
        self.default_limit = islands.memory_limit
        self._wall = wall
        self._snapshots = SingleFlight(self._poll, ttl=self.ttl)
        self.polls = 0
        """How many metrics polls ran (each is one kubectl call): what the benchmark counts."""

    # -- the poll ------------------------------------------------------------------------------
    def _poll(self) -> core.Snapshot:
        self.polls += 1
        try:
            doc = self.service.kubectl.top_pods()
        except Forbidden:
            return core.Snapshot(False, reason="the master's Kubernetes user may not list pods.metrics.k8s.io "
                                               "(grant it in conf/kubernetes/rbac.yaml)", taken_at=self._wall())
        except (IslandError, ValueError) as exc:  # KubectlError, ConnectionLost, bad JSON: a view, not an error
            log.info("metrics poll failed: %s", exc)
            return core.Snapshot(False, reason=f"the metrics API did not answer: {_one_line(exc)}",
                                 taken_at=self._wall())
        if doc is None:
            return core.Snapshot(False, reason=NO_METRICS, taken_at=self._wall())
        return core.Snapshot(True, core.parse_pod_metrics(doc), taken_at=self._wall())

    def snapshot(self) -> core.Snapshot:
        """The latest poll, at most islands.usage_cache_seconds old (one kubectl call per interval)."""
        return self._snapshots.get()

    def expire(self) -> None:
        """Drop the kept poll: the next read polls again (readers arriving together share it)."""
        self._snapshots.forget()

    def refresh(self) -> core.Snapshot:
        self.expire()
        return self._snapshots.get()

    # -- what the faces ask --------------------------------------------------------------------
    def usage(self, island_id: int, row=None) -> dict:
        """One island's use against its limit (IslandNotFound for an unknown id)."""
        row = row if row is not None else self.service.get(island_id)
        # a server that is not running has no use to poll for (its OOM kill is on the row)
        snapshot = self.snapshot() if row.state in core.RUNNING_STATES else core.Snapshot(True)
        return core.island_usage(row, snapshot, self.default_limit, self.warning)

    def usage_all(self, rows=None, ids: Iterable[int] | None = None) -> dict:
        """Every island that is not deleted (or of those, the ones in ``ids``): GET /api/usage and
        `island-ssh top`. The metrics poll is the same shared one either way."""
        rows = rows if rows is not None else live_rows(self.service, ids)
        running = any(r.state in core.RUNNING_STATES for r in rows)
        snapshot = self.snapshot() if running else core.Snapshot(True, taken_at=self._wall())
        items = [core.island_usage(r, snapshot, self.default_limit, self.warning) for r in rows]
        return {"available": snapshot.available, "reason": snapshot.reason,
                "warning_fraction": self.warning, "cache_seconds": self.ttl,
                "polled_at": _iso(snapshot.taken_at), "islands": items,
                "warnings": [u["id"] for u in items if u["warning"]]}


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _iso(epoch: float) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
