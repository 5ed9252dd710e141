"""The tracker: one reader per database turns `kubectl get pods -w` into stored transitions.

Layers (STYLE.md 2 and 4): the SSH stream's reader thread only moves bytes into lines; here each
line is parsed (island_ssh.core.watch_events), classified (island_ssh.core.podstate) and fed to the pure state
machine (island_ssh.core.statemachine); a transition is stored with its event in one transaction
(store.transition) and then announced to in-process subscribers. ``run_watch`` handles one watch;
``run`` is the restart loop around it (a silent end of ``kubectl -w`` is normal, not an error).
The periodic re-list, and the timeout check while lines keep coming, run beside the watch
(tracker_relist): this thread only stores what they found.

Only the process holding the MySQL named lock acts, so several web workers never write duplicate
transitions. Other processes read transitions back from island_events (island_ssh.service.feed).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

from island_ssh.core.settings import IslandSettings, TrackerSettings
from island_ssh.core.errors import IslandError
from island_ssh.kube.kubectl import Kubectl
from island_ssh.kube.tracker_audit import audit_ends
from island_ssh.kube.tracker_relist import BackgroundListing, relist_moves
from island_ssh.kube.tracker_timing import TrackerTiming
from island_ssh.core.names import (GENERATION_LABEL, MANAGED_SELECTOR, SERVER_CONTAINER,
                                   WAITING_STATES)
from island_ssh.core.podstate import classify
from island_ssh.ssh import StreamTimeout
from island_ssh.core.statemachine import IslandSnapshot, check_timeout, next_transition
from island_ssh.observe import metrics
from island_ssh.store import Move
from island_ssh.core.watch_events import WatchParseError, parse_watch_line

log = logging.getLogger(__name__)

FIRST_LINE_WAIT = 2.0  # seconds to let kubectl start its own list before we list (see _relist)


@dataclass(frozen=True)
class Announcement:
    island_id: int
    generation: int
    from_state: str | None
    to_state: str
    reason: str | None
    message: str | None
    at: float


BATCH_MAX = 500
"""Watch lines handled together at most: those already waiting when one is taken share one
read of their rows and one transaction (one commit) for their transitions."""


def _after(row, t):
    """The row as it will read once ``t`` is stored (for the next event of the same batch)."""
    return dataclasses.replace(
        row, state=t.to_state, reason=t.reason, message=t.message, node=t.node or row.node,
        host_ip=t.host_ip or row.host_ip,
        resource_version=row.resource_version if t.resource_version is None else t.resource_version)


def _next_line(stream, timeout: float) -> str | None:
    """The first line if one comes within timeout, else None (also at a quick end)."""
    try:
        return stream.get_line(timeout=timeout)
    except StreamTimeout:
        return None


class Tracker:
    def __init__(self, kubectl: Kubectl, store, islands: IslandSettings, settings: TrackerSettings,
                 server_container: str = SERVER_CONTAINER, selector: str = MANAGED_SELECTOR, *,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time) -> None:
        """``clock`` times the watch (staleness, re-lists, backoff); ``wall_clock`` is compared
        with the rows' timestamps (the readiness timeout). A test passes clocks it moves by hand."""
        self.kubectl = kubectl
        self.clock = clock
        self.wall_clock = wall_clock
        self.store = store
        self.islands = islands
        self.settings = settings
        self.server_container = server_container
        self.selector = selector
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribers: list[queue.Queue] = []
        self._sub_lock = threading.Lock()
        self.acting = threading.Event()
        """Set while this process holds the tracker lock and follows the watch."""
        self.watch_started = threading.Event()
        self.watches = 0
        self.last_error: BaseException | None = None
        self._last_timeout_check = 0.0
        self.timing: TrackerTiming | None = None
        """Set to a TrackerTiming to record where each batch's time goes (bench/tracker_latency.py)."""
        self._marks: dict | None = None  # the batch being timed
        self._watched_rv = 0  # the highest resourceVersion handled from the watch

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Tracker":
        if 0 < self.settings.switch_interval < sys.getswitchinterval():
            sys.setswitchinterval(self.settings.switch_interval)  # see TrackerSettings.switch_interval
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="island-tracker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise IslandError(f"tracker thread did not stop within {timeout:.0f}s")
            self._thread = None

    def __enter__(self) -> "Tracker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- subscribers ---------------------------------------------------------------------------
    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=10000)
        with self._sub_lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._sub_lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def _announce(self, a: Announcement) -> None:
        with self._sub_lock:
            subs = list(self._subscribers)
        for q in subs:
            try:
                q.put_nowait(a)
            except queue.Full:
                log.warning("tracker subscriber queue full; dropping an announcement")

    # -- the restart loop ----------------------------------------------------------------------
    def run(self, iterations: int | None = None) -> None:
        """Take the tracker lock, then follow one watch after another, backing off between them,
        until stop(); start() runs this on its thread. With ``iterations``, return after that
        many turns (a turn: one watch, or one attempt at the lock that failed), without the
        pause after the last: a test runs exactly N turns (kopf's ``_iterations``)."""
        turns = 0

        def more() -> bool:
            return not self._stop.is_set() and (iterations is None or turns < iterations)

        backoff = self.settings.restart_backoff
        while more():
            try:
                with self.store.named_lock(self.settings.lock_name, timeout=0) as acquired:
                    if not acquired:
                        self.acting.clear()
                        turns += 1
                        if more():
                            self._stop.wait(2.0)
                        continue
                    self.acting.set()
                    while more():
                        started = self.clock()
                        try:
                            self.run_watch()
                        except IslandError as exc:
                            self.last_error = exc
                            log.warning("tracker watch failed: %s", exc)
                        turns += 1
                        if self.clock() - started > 5 * self.settings.restart_backoff_max:
                            backoff = self.settings.restart_backoff
                        if not more() or self._stop.wait(backoff):
                            break
                        backoff = min(backoff * 2, self.settings.restart_backoff_max)
            except IslandError as exc:  # lost the database: the lock is gone with its connection
                self.last_error = exc
                log.warning("tracker lost its lock connection: %s", exc)
                self.acting.clear()
                turns += 1
                if more():
                    self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.restart_backoff_max)
        self.acting.clear()

    def run_watch(self, iterations: int | None = None) -> None:
        """Follow one `kubectl get pods -w` until it ends, goes stale, or we are stopped; with
        ``iterations``, for at most that many turns of its read loop (a turn: one wait for
        lines, then the re-list and the timeout check when they are due)."""
        stream = self.kubectl.watch_pods(self.selector)
        self.watches += 1
        if self.watches > 1:
            metrics.TRACKER_WATCH_RESTARTS.inc()
        try:
            first = _next_line(stream, FIRST_LINE_WAIT)
            self._relist()
            self.watch_started.set()
            if first is not None:
                self.handle_line(first)
            last_line = last_relist = self.clock()
            listing: BackgroundListing | None = None
            timeouts: BackgroundListing | None = None  # a timeout check running beside a busy watch
            turns = 0
            while not self._stop.is_set() and (iterations is None or turns < iterations):
                turns += 1
                try:
                    line = stream.get_line(timeout=0.25)
                except StreamTimeout:
                    line = ""
                now = self.clock()
                if line is None:  # the watch ended; get_line raised instead if the connection dropped
                    log.info("kubectl watch ended (exit %s); restarting", stream.exit_code)
                    return
                if line:
                    last_line = now
                    taken = time.time()
                    self.handle_lines([line] + stream.lines_ready(BATCH_MAX - 1), taken)
                elif now - last_line > self.settings.stale_after:
                    log.info("kubectl watch silent for %.0fs; restarting", now - last_line)
                    return
                if now - last_relist > self.settings.relist_interval and listing is None:
                    last_relist = now  # the listing runs beside the watch (tracker_relist)
                    listing = BackgroundListing(lambda: self.kubectl.pods(self.selector), self._judge_listing,
                                                self._watched_rv)
                if listing is not None and listing.done.is_set():
                    paused = time.time()
                    done, listing = listing, None
                    self._store_relisted(done.result())
                    if self.timing is not None:
                        self.timing.pause("relist", paused)
                if timeouts is not None and timeouts.done.is_set():
                    paused, (done, timeouts) = time.time(), (timeouts, None)
                    self._store_many(done.result())
                    if self.timing is not None:
                        self.timing.pause("timeouts", paused)
                if timeouts is None:
                    timeouts = self.check_timeouts(busy=bool(line))
        finally:
            stream.close()

    # -- turning lines into transitions --------------------------------------------------------
    def handle_line(self, line: str) -> None:
        self.handle_lines([line])

    def handle_lines(self, lines: list[str], taken: float | None = None) -> None:
        """Watch lines in the order kubectl printed them; unparseable ones are logged and skipped.
        ``taken``: when the first was taken from the stream (for ``timing``)."""
        if self.timing is not None:
            self._marks = {"taken": time.time() if taken is None else taken, "lines": len(lines), "keys": []}
        events = []
        for line in lines:
            try:
                event = parse_watch_line(line, slim=True)  # only what classify and the labels need
            except WatchParseError as exc:
                log.warning("unparseable watch line skipped: %s", exc)
                continue
            if event.type in ("ADDED", "MODIFIED", "DELETED"):
                events.append((event.type, event.object))
        try:
            self.handle_pods(events)
        finally:
            self._record_batch()

    def _mark(self, name: str) -> None:
        if self._marks is not None:
            self._marks.setdefault(name, time.time())

    def _record_batch(self) -> None:
        marks, self._marks = self._marks, None
        if marks is not None and self.timing is not None:
            self.timing.record(marks)

    def handle_pods(self, events: list[tuple[str, dict]]) -> None:
        """Pod events, in order: one read of their islands' rows, one transaction for every
        transition they cause. A later event of the same island is judged against the state the
        earlier one moves it to; if the store refuses a move (the row changed meanwhile: a
        delete, a restart), that island's later events are judged again against the fresh row."""
        views = []
        for event_type, pod in events:
            view = classify(pod, self.server_container)
            if view.island_id is not None:
                views.append((event_type, pod, view))
                if view.resource_version is not None and view.resource_version > self._watched_rv:
                    self._watched_rv = view.resource_version
        self._mark("parsed")
        if not views:
            return
        ids = list(dict.fromkeys(view.island_id for _, _, view in views))
        rows = dict(zip(ids, self.store.get_many(ids)))
        self._mark("read")
        moves: list[tuple[int, object, object]] = []  # (index in views, row, transition)
        for index, (event_type, pod, view) in enumerate(views):
            row = rows[view.island_id]
            if row is None or not self._same_incarnation(row, pod):
                continue
            transition = next_transition(IslandSnapshot.of(row), event_type, view)
            if transition is not None:
                moves.append((index, row, transition))
                rows[view.island_id] = _after(row, transition)
        refused_at: dict[int, int] = {}
        outcomes = self._store_many([(row, t) for _, row, t in moves])
        metrics.tracker_stored(views[i][1] for (i, _, _), ok in zip(moves, outcomes) if ok and views[i][0] != "DELETED")
        for (index, row, _), ok in zip(moves, outcomes):
            if not ok and row.island_id not in refused_at:
                refused_at[row.island_id] = index
        if refused_at:
            self.handle_pods([(event_type, pod) for index, (event_type, pod, view) in enumerate(views)
                              if index > refused_at.get(view.island_id, len(views))])

    @staticmethod
    def _same_incarnation(row, pod: dict) -> bool:
        meta = pod.get("metadata") or {}
        if row.pod_name and meta.get("name") != row.pod_name:
            return False
        generation = (meta.get("labels") or {}).get(GENERATION_LABEL)
        return generation is None or str(row.generation) == str(generation)

    def _store_many(self, moves: list) -> list[bool]:
        """Store each (row, transition) as a move from the row's state, in ONE transaction, and
        announce the ones the store took, in order."""
        if not moves:
            return []
        outcomes = self.store.transition_batch([
            Move(row.island_id, row.generation, t.to_state, t.reason, t.message, t.node, t.host_ip,
                 t.resource_version, row.state) for row, t in moves])
        self._mark("stored")
        at = self.wall_clock()
        for (row, t), ok in zip(moves, outcomes):
            if ok:
                self._announce(Announcement(row.island_id, row.generation, row.state, t.to_state,
                                            t.reason, t.message, at))
                if self._marks is not None:
                    self._marks["keys"].append((row.island_id, t.to_state))
        self._mark("announced")
        audit_ends(self.store, [(row, t) for (row, t), ok in zip(moves, outcomes) if ok])
        return outcomes

    def _relist(self) -> None:
        """Derive what the gap between two watches hid: pods gone -> deleted or lost.

        Listing after kubectl started its own list+watch means a pod deleted in between shows
        up in one of the two; the recover job covers anything a crash of ours loses."""
        self._store_relisted(self._judge_listing(self.kubectl.pods(self.selector)))

    def _judge_listing(self, listing: dict, newer_than: int | None = None) -> list:
        """(row, transition) for the active rows; ``newer_than`` for a listing taken beside the
        running watch, on the listing's own thread (tracker_relist)."""
        return relist_moves(listing, self.store.active(), self.server_container, self._same_incarnation, newer_than)

    def _store_relisted(self, moves: list) -> None:
        metrics.relisted([t.to_state for (_, t), ok in zip(moves, self._store_many(moves)) if ok])

    def check_timeouts(self, force: bool = False, busy: bool = False) -> BackgroundListing | None:
        """Every second, on this thread. While lines keep coming (``busy``: a launch burst) every
        5 s, and the read and judging run beside the watch: the returned check's moves are for
        the caller to store once it is done (each guarded by the state it was judged from)."""
        now = self.wall_clock()
        if not force and now - self._last_timeout_check < (5.0 if busy else 1.0):
            return None
        self._last_timeout_check = now
        if busy and not force:
            return BackgroundListing(dict, lambda _listing, _rv: self._timeout_moves(now), 0)
        paused = time.time()
        try:
            self._store_many(self._timeout_moves(now))
        finally:
            if self.timing is not None:
                self.timing.pause("timeouts", paused)
        return None

    def _timeout_moves(self, now: float) -> list:
        if self.islands.ready_timeout <= 0:
            return []
        moves = []
        # only rows old enough to time out (a second early: the check below decides), not every
        # active row each second: hundreds during a launch burst
        candidates = self.store.waiting_created_before(
            [s for s in WAITING_STATES if s != "allocated"], now - self.islands.ready_timeout + 1.0)
        for row in candidates:
            # created_at: the row is allocated and applied within one launch (rows keep no applied_at)
            transition = check_timeout(IslandSnapshot.of(row), row.created_at.timestamp(), now,
                                       self.islands.ready_timeout)
            if transition is not None:
                moves.append((row, transition))
        return moves
