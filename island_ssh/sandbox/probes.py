"""Readiness probes as a kubelet runs them, on asyncio timers.

After ``initialDelaySeconds``, one check every ``periodSeconds`` (each bounded by
``timeoutSeconds``). The container turns ready after ``successThreshold`` consecutive successes
and unready after ``failureThreshold`` consecutive failures; readiness failures never kill it.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from .podspec import ProbeSpec

Check = Callable[[], Awaitable[bool]]


async def tcp_check(host: str, port: int, timeout: float) -> bool:
    """A tcpSocket probe: the connection opens within the timeout."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout)
    except (OSError, asyncio.TimeoutError):
        pass
    return True


class ReadinessTracker:
    """Pure threshold logic: feed results, read ``ready``."""

    def __init__(self, success_threshold: int, failure_threshold: int) -> None:
        self.success_threshold = max(1, success_threshold)
        self.failure_threshold = max(1, failure_threshold)
        self.ready = False
        self._successes = self._failures = 0

    def record(self, ok: bool) -> bool:
        """Record one result; True when readiness changed."""
        if ok:
            self._successes, self._failures = self._successes + 1, 0
            if not self.ready and self._successes >= self.success_threshold:
                self.ready = True
                return True
        else:
            self._failures, self._successes = self._failures + 1, 0
            if self.ready and self._failures >= self.failure_threshold:
                self.ready = False
                return True
        return False


async def run_readiness(spec: ProbeSpec, check: Check, on_change: Callable[[bool], None]) -> None:
    """Runs until cancelled (the kubelet cancels it when the container stops)."""
    tracker = ReadinessTracker(spec.success_threshold, spec.failure_threshold)
    await asyncio.sleep(spec.initial_delay)
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            ok = await asyncio.wait_for(check(), spec.timeout)
        except asyncio.TimeoutError:
            ok = False
        if tracker.record(ok):
            on_change(tracker.ready)
        await asyncio.sleep(max(0.0, spec.period - (loop.time() - started)))
