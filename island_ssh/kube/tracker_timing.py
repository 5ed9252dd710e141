"""Where the tracker's time goes: one record per batch of watch lines and per pause (a re-list,
a timeout check), for the benchmark (bench/tracker_latency.py). Off unless a caller sets
``Tracker.timing = TrackerTiming()``; then each record costs a few clock reads and one append.

Wall-clock times (time.time()), comparable with an independent watch on the API server taken
in another process on the same machine.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchTiming:
    taken: float
    """The batch's first line was taken from the stream (the lines after it were already waiting)."""
    lines: int
    parsed: float
    """Parsed and classified."""
    read: float
    """Their rows read (one query)."""
    stored: float
    """The transaction storing their transitions committed."""
    announced: float
    """Subscribers told."""
    keys: tuple[tuple[int, str], ...]
    """(island_id, to_state) of each transition stored."""


@dataclass(frozen=True)
class Pause:
    kind: str  # "relist", "timeouts"
    started: float
    ended: float


@dataclass
class TrackerTiming:
    batches: deque = field(default_factory=lambda: deque(maxlen=100_000))
    pauses: deque = field(default_factory=lambda: deque(maxlen=100_000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, marks: dict) -> None:
        """One batch from the tracker's marks ("taken", "lines", "keys"; "parsed", "read",
        "stored", "announced" as far as it got: a batch with no transition stops early)."""
        end = time.time()
        parsed = marks.get("parsed", end)
        read = marks.get("read", parsed)
        stored = marks.get("stored", read)
        self.batches.append(BatchTiming(marks["taken"], marks["lines"], parsed, read, stored,
                                        marks.get("announced", stored), tuple(marks["keys"])))

    def pause(self, kind: str, started: float) -> None:
        self.pauses.append(Pause(kind, started, time.time()))

    def clear(self) -> None:
        with self._lock:
            self.batches.clear()
            self.pauses.clear()
