"""Sharing slow calls between threads: group commit and single flight. No I/O of its own.

A burst of REST launches (200 POSTs at once) would otherwise make 200 `kubectl apply` calls and
200 capacity listings over the one SSH connection, each costing the API server and the master
the same fixed price. These two helpers let concurrent callers share the work:

- ``GroupCommit``: callers submit items; whoever finds no batch in flight leads, takes everything
  queued so far (up to ``max_batch``) and runs ONE call for all of it; the others wait for their
  own outcome. While a batch runs, new arrivals queue for the next one, so the batch size grows
  with the load and a lone caller pays no extra latency.
- ``SingleFlight``: concurrent callers of the same read share one call in flight, and its result
  is reused for ``ttl`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Entry(Generic[T]):
    __slots__ = ("item", "waiting", "done", "lead", "outcome", "wake")

    def __init__(self, item: T, waiting: bool = True) -> None:
        self.item = item
        self.waiting = waiting  # False: nobody waits for it; a worker thread leads its batch
        self.done = False
        self.lead = False
        self.outcome: BaseException | None = None
        self.wake = threading.Event()


class GroupCommit(Generic[T]):
    """``run_batch(items) -> [None or exception per item]`` runs once per batch, never twice at once.

    ``submit(item)`` returns when the batch holding ``item`` has run, raising that item's
    exception if it got one. An exception escaping ``run_batch`` itself is every item's outcome.
    ``submit_nowait(item)`` queues it and returns at once: a worker thread runs its batch, and its
    outcome goes to ``on_dropped`` (run_batch should record outcomes where they are looked for).
    """

    def __init__(self, run_batch: Callable[[list[T]], Sequence[BaseException | None]],
                 max_batch: int = 200, on_dropped: Callable[[T, BaseException], None] | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._on_dropped = on_dropped
        self._lock = threading.Lock()
        self._queue: list[_Entry[T]] = []
        self._busy = False
        self.batches = 0  # how many batches ran (for tests and benchmarks)

    @property
    def queued(self) -> int:
        """Items waiting for the next batch (not counting a batch in flight)."""
        with self._lock:
            return len(self._queue)

    def submit(self, item: T) -> None:
        entry = _Entry(item)
        with self._lock:
            self._queue.append(entry)
            if not self._busy:
                self._busy = True
                entry.lead = True
        while not entry.done:
            if entry.lead:
                self._lead()
            else:
                entry.wake.wait()
                entry.wake.clear()
        if entry.outcome is not None:
            raise entry.outcome

    def submit_nowait(self, item: T) -> None:
        entry = _Entry(item, waiting=False)
        with self._lock:
            self._queue.append(entry)
            if self._busy:
                return
            self._busy = True
            entry.lead = True
        self._start_worker()

    def _start_worker(self) -> None:
        threading.Thread(target=self._lead, name="group-commit", daemon=True).start()

    def _lead(self) -> None:
        """Run one batch (the leader's own entry is its first), then hand over to the next in line."""
        with self._lock:
            batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
        try:
            outcomes = list(self._run_batch([e.item for e in batch]))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"run_batch returned {len(outcomes)} outcomes for {len(batch)} items")
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter, never swallowed
            outcomes = [exc] * len(batch)
        with self._lock:
            self.batches += 1
            for entry, outcome in zip(batch, outcomes):
                entry.outcome, entry.done, entry.lead = outcome, True, False
            successor = self._queue[0] if self._queue else None
            if successor is not None:
                successor.lead = True
            else:
                self._busy = False
        if successor is not None:
            if successor.waiting:
                successor.wake.set()
            else:
                self._start_worker()
        for entry, outcome in zip(batch, outcomes):
            if entry.waiting:
                entry.wake.set()
            elif outcome is not None and self._on_dropped is not None:
                self._on_dropped(entry.item, outcome)


class _Flight(Generic[T]):
    __slots__ = ("landed", "value", "error")

    def __init__(self) -> None:
        self.landed = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """``get()`` returns ``fetch()``'s result, shared by concurrent callers and kept ``ttl`` seconds.

    A failed fetch is not kept: the callers that waited on it get its exception, the next caller
    fetches again.
    """

    def __init__(self, fetch: Callable[[], T], ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch, self._ttl, self._clock = fetch, ttl, clock
        self._lock = threading.Lock()
        self._kept: tuple[float, T] | None = None
        self._flight: _Flight[T] | None = None
        self.fetches = 0  # how many fetches ran (for tests and benchmarks)

    def get(self) -> T:
        with self._lock:
            if self._kept is not None and self._clock() - self._kept[0] < self._ttl:
                return self._kept[1]
            flight, leader = self._flight, self._flight is None
            if leader:
                self._flight = flight = _Flight()
        assert flight is not None
        if not leader:
            flight.landed.wait()
        else:
            try:
                flight.value = self._fetch()
            except BaseException as exc:  # noqa: BLE001 - re-raised here and in every waiter
                flight.error = exc
            with self._lock:
                self.fetches += 1
                self._flight = None
                if flight.error is None:
                    self._kept = (self._clock(), flight.value)  # type: ignore[assignment]
            flight.landed.set()
        if flight.error is not None:
            raise flight.error
        return flight.value  # type: ignore[return-value]

    def forget(self) -> None:
        """Drop the kept result: the next get() fetches again."""
        with self._lock:
            self._kept = None
