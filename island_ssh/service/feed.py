"""A live feed of island transitions for every process, read back from ``island_events``.

Only the process holding the tracker lock follows the watch, but every web worker must push
transitions to its own browsers. The events table is the one place all of them see, so each
process polls it by its auto-increment id (one query per poll, only while someone listens) and
fans the rows out to in-process subscribers.

Ids are handed out at INSERT, not at COMMIT: two writers (the tracker, a web worker deleting an
island) can commit 7 before 6. ``FeedCursor`` (pure) therefore keeps re-reading from below a
gap for ``gap_grace`` seconds, delivering each id once; a gap left by a rolled-back insert is
given up after that.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

from island_ssh.core.errors import IslandError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedItem:
    """One stored event and the island's row as it was read right after it (None if gone)."""

    event: object  # store.EventRow
    island: object | None  # store.IslandRow


@dataclass
class FeedCursor:
    """Which ids were delivered and where the next poll starts. Pure: the caller passes the time."""

    position: int = 0
    """Every id at or below this was delivered or given up."""
    gap_grace: float = 10.0
    _delivered: set[int] = field(default_factory=set)
    _gaps: dict[int, float] = field(default_factory=dict)  # missing id -> when first noticed

    def poll_from(self) -> int:
        """Ask the store for events with an id above this."""
        return min(self._gaps) - 1 if self._gaps else self.position

    def accept(self, ids: Iterable[int], now: float) -> list[int]:
        """The ids of one poll, ascending; returns those not delivered before, in order."""
        fresh = []
        for event_id in ids:
            if event_id <= self.position and event_id not in self._gaps:
                continue
            if event_id in self._delivered:
                continue
            fresh.append(event_id)
            self._gaps.pop(event_id, None)
            if event_id > self.position:
                for missing in range(self.position + 1, event_id):
                    if missing not in self._delivered:
                        self._gaps.setdefault(missing, now)
                self._delivered.add(event_id)
                self.position = max(self.position, event_id)
        for missing, since in list(self._gaps.items()):
            if now - since > self.gap_grace:
                del self._gaps[missing]
        floor = min(self._gaps, default=self.position + 1)
        self._delivered = {i for i in self._delivered if i >= floor}
        return fresh


class Subscription:
    """What one listener reads: ``get(timeout)`` -> FeedItem or None after timeout."""

    def __init__(self, maxsize: int = 2000) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._seen: deque[int] = deque(maxlen=4096)
        self._seen_set: set[int] = set()
        self._lock = threading.Lock()
        self.overflowed = False
        """Set when items were dropped because the reader fell behind: it should re-read state."""

    def put(self, item: FeedItem) -> None:
        with self._lock:
            event_id = item.event.id
            if event_id in self._seen_set:
                return
            if len(self._seen) == self._seen.maxlen:
                self._seen_set.discard(self._seen[0])
            self._seen.append(event_id)
            self._seen_set.add(event_id)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.overflowed = True

    def get(self, timeout: float) -> FeedItem | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


class EventFeed:
    """One poller thread per process, started by the first subscriber, idle without any.

    ``wake``: an optional callable returning a queue (e.g. ``tracker.subscribe``) whose items
    make the poller read at once instead of at the next interval.
    """

    def __init__(self, store, poll_interval: float = 0.5, gap_grace: float = 10.0, batch: int = 500,
                 backlog_limit: int = 1000, wake: Callable[[], queue.Queue] | None = None) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.batch = batch
        self.backlog_limit = backlog_limit
        self._cursor = FeedCursor(gap_grace=gap_grace)
        self._positioned = False
        self._poll_lock = threading.Lock()  # one poll at a time; subscribe positions under it
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_factory = wake
        self._wake: queue.Queue | None = None
        self.last_error: BaseException | None = None

    # -- subscribers ---------------------------------------------------------------------------
    def subscribe(self, after_id: int | None = None) -> Subscription:
        """Live items from now on; with ``after_id`` also the stored events after that id first
        (at most ``backlog_limit``, as an EventSource resuming with Last-Event-ID asks)."""
        sub = Subscription()
        with self._poll_lock:
            if not self._positioned:
                self._cursor = FeedCursor(position=self.latest_id(), gap_grace=self._cursor.gap_grace)
                self._positioned = True
            with self._lock:
                self._subs.append(sub)
                self._ensure_thread()
        if after_id is not None:
            for item in self._items(self.store.events_since(after_id, self.backlog_limit)):
                sub.put(item)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def latest_id(self) -> int:
        latest = self.store.events_since(None, 1)
        return latest[-1].id if latest else 0

    # -- the poller ----------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="island-feed", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        idle = threading.Event()
        while not self._stop.is_set():
            if not self.subscribers:
                with self._poll_lock:
                    if not self.subscribers:  # a later subscriber starts from "now"
                        self._positioned = False
                idle.wait(self.poll_interval)
                continue
            try:
                self.poll_once()
                self.last_error = None
            except IslandError as exc:
                if self.last_error is None:
                    log.warning("live feed cannot read island events: %s", exc)
                self.last_error = exc
            self._pause()

    def _pause(self) -> None:
        if self._wake is None and self._wake_factory is not None:
            self._wake = self._wake_factory()
        if self._wake is None:
            self._stop.wait(self.poll_interval)
            return
        try:
            self._wake.get(timeout=self.poll_interval)
            while True:  # drain: one read covers them all
                self._wake.get_nowait()
        except queue.Empty:
            pass

    def poll_once(self) -> int:
        """Read new events and hand them to every subscriber; returns how many were new."""
        with self._poll_lock:
            if not self._positioned:
                return 0
            rows = self.store.events_since(self._cursor.poll_from(), self.batch)
            fresh_ids = set(self._cursor.accept([r.id for r in rows], time.monotonic()))
            items = self._items([r for r in rows if r.id in fresh_ids])
        with self._lock:
            subs = list(self._subs)
        for item in items:
            for sub in subs:
                sub.put(item)
        return len(items)

    def _items(self, events) -> list[FeedItem]:
        islands = {}
        for event in events:
            if event.island_id not in islands:
                islands[event.island_id] = self.store.get(event.island_id)
        return [FeedItem(e, islands[e.island_id]) for e in events]
