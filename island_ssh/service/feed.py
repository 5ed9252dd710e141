"""A live feed of island transitions for every process, read back from ``island_events``.

Only the process holding the tracker lock follows the watch, but every web worker must push
transitions to its own browsers. The events table is the one place all of them see, so each
process polls it by its auto-increment id (one query per poll, only while someone listens) and
appends the new rows once to a shared log that every in-process subscriber (an open page) reads
from its own place: the cost of a poll does not grow with the pages open, and a page costs a
position in the log, not a queue.

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
    _rendered: dict = field(default_factory=dict, compare=False, repr=False)

    def rendered(self, key, make: Callable[[], str]) -> str:
        """The text ``make()`` gives for ``key``, made once and kept with the item: the feed's
        ``prepare`` makes the usual ones before any reader sees the item, so a page only looks
        them up (readers of a key not prepared may each make it once: the same text, no lock)."""
        text = self._rendered.get(key)
        if text is None:
            text = self._rendered[key] = make()
        return text


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
    """What one listener reads: ``get_batch(timeout)`` -> the FeedItems since its last read (up to
    ``limit``; [] after the timeout), or ``get(timeout)`` -> one FeedItem or None.

    It holds no queue of its own, only its place in the feed's shared log (and, resuming with
    Last-Event-ID, the stored events it missed) and a lock the poller releases to wake it: one
    futex per listener and poll, no lock shared by all listeners (200 threads woken together
    would otherwise queue on it one by one).
    """

    def __init__(self, feed: "EventFeed", position: int) -> None:
        self._feed = feed
        self._position = position  # the log's sequence number of the last item read
        self._backlog: deque[FeedItem] = deque()
        self._skip: frozenset[int] = frozenset()  # backlog ids: the live log may bring them again
        self._pending: deque[FeedItem] = deque()  # get()'s rest of a batch
        self._signal = threading.Lock()  # held while nothing new: the poller releases it
        self._signal.acquire()
        self.overflowed = False
        """Set when items were lost because the reader fell behind the log: it should re-read state."""

    def _replay(self, items: list[FeedItem]) -> None:
        self._backlog.extend(items)
        self._skip = frozenset(i.event.id for i in items)
        self._wake()

    def _wake(self) -> None:
        try:
            self._signal.release()
        except RuntimeError:  # already released: one wake covers every append since
            pass

    def get_batch(self, timeout: float, limit: int = 500) -> list[FeedItem]:
        deadline = time.monotonic() + timeout
        while True:
            if self._backlog:
                return [self._backlog.popleft() for _ in range(min(limit, len(self._backlog)))]
            first, log = self._feed._snapshot  # one tuple, replaced whole by the poller: no lock
            newest = first + len(log) - 1
            if newest > self._position:
                start = max(self._position + 1, first)
                end = min(newest, start + max(1, limit) - 1)
                if start > self._position + 1:
                    self.overflowed = True
                items = log[start - first:end - first + 1]
                self._position = end
                return [i for i in items if i.event.id not in self._skip] if self._skip else list(items)
            left = deadline - time.monotonic()
            if left <= 0 or self._feed._stop.is_set():
                return []
            self._signal.acquire(timeout=left)

    def get(self, timeout: float) -> FeedItem | None:
        if not self._pending:
            self._pending.extend(self.get_batch(timeout))
        return self._pending.popleft() if self._pending else None


class EventFeed:
    """One poller thread per process, started by the first subscriber, idle without any.

    Each poll appends the new items once to a shared, numbered log of the last ``log_size`` items
    and wakes every listener; each listener reads the log from its own place (a reader more than
    ``log_size`` items behind loses the oldest and is told to resync). The fan-out costs one append
    per item, not one queue put per item and listener, and a listener costs a position, not a queue.

    ``poll_interval`` is the floor of the store -> page latency (a poll that filled a whole
    ``batch`` is followed by the next at once). ``wake``: an optional callable returning a queue
    (e.g. ``tracker.subscribe``) whose items make the poller read at once. ``prepare``: called by
    the poller with each poll's new items before any listener sees them (the web app serialises
    them there, once, rather than in 200 stream threads at once, which queued on each other).
    """

    def __init__(self, store, poll_interval: float = 0.05, gap_grace: float = 10.0, batch: int = 500,
                 backlog_limit: int = 1000, wake: Callable[[], queue.Queue] | None = None,
                 log_size: int = 2000, prepare: Callable[[list[FeedItem]], None] | None = None) -> None:
        self.store = store
        self.prepare = prepare
        self.poll_interval = poll_interval
        self.batch = batch
        self.backlog_limit = backlog_limit
        self._cursor = FeedCursor(gap_grace=gap_grace)
        self._positioned = False
        self._poll_lock = threading.Lock()  # one poll at a time; subscribe positions under it
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self.log_size = max(1, int(log_size))
        self._snapshot: tuple[int, tuple[FeedItem, ...]] = (1, ())
        """(sequence number of the log's first item, the last ``log_size`` items): replaced whole."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_factory = wake
        self._wake: queue.Queue | None = None
        self.last_error: BaseException | None = None

    # -- subscribers ---------------------------------------------------------------------------
    def subscribe(self, after_id: int | None = None) -> Subscription:
        """Live items from now on; with ``after_id`` also the stored events after that id first
        (at most ``backlog_limit``, as an EventSource resuming with Last-Event-ID asks)."""
        with self._poll_lock:
            if not self._positioned:
                self._cursor = FeedCursor(position=self.latest_id(), gap_grace=self._cursor.gap_grace)
                self._positioned = True
            first, log = self._snapshot
            sub = Subscription(self, first + len(log) - 1)
            with self._lock:
                self._subs.add(sub)
                self._ensure_thread()
        if after_id is not None:
            sub._replay(self._items(self.store.events_since(after_id, self.backlog_limit)))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

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
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub._wake()
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
                        first, log = self._snapshot
                        self._snapshot = (first + len(log), ())  # numbering goes on
                idle.wait(self.poll_interval)
                continue
            full = False
            try:
                full = self._poll()[1] >= self.batch
                self.last_error = None
            except IslandError as exc:
                if self.last_error is None:
                    log.warning("live feed cannot read island events: %s", exc)
                self.last_error = exc
            if not full:
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
        return self._poll()[0]

    def _poll(self) -> tuple[int, int]:
        """One poll: (items appended, rows the forward read gave; ``batch`` means there may be more)."""
        with self._poll_lock:
            if not self._positioned:
                return 0, 0
            position, start = self._cursor.position, self._cursor.poll_from()
            rows = list(self.store.events_since(position, self.batch))
            forward = len(rows)
            if start < position:  # ids committed late below the position: re-read that range too
                rows = [r for r in self.store.events_since(start, self.batch) if r.id <= position] + rows
            fresh_ids = set(self._cursor.accept([r.id for r in rows], time.monotonic()))
            items = self._items([r for r in rows if r.id in fresh_ids])
            if items and self.prepare is not None:
                try:
                    self.prepare(items)
                except Exception:  # the readers make what is missing themselves
                    log.exception("live feed: preparing %d items failed", len(items))
            if items:
                first, log = self._snapshot
                log = log + tuple(items)
                self._snapshot = (first + max(0, len(log) - self.log_size), log[-self.log_size:])
        if items:
            with self._lock:
                subs = list(self._subs)
            for sub in subs:
                sub._wake()
        return len(items), forward

    def _items(self, events) -> list[FeedItem]:
        ids = list(dict.fromkeys(e.island_id for e in events))
        islands = dict(zip(ids, self.store.get_many(ids))) if ids else {}
        return [FeedItem(e, islands[e.island_id]) for e in events]
