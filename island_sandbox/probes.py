"""Readiness probes as a kubelet runs them, on asyncio timers.

After ``initialDelaySeconds``, one check every ``periodSeconds`` (each bounded by
``timeoutSeconds``). The container turns ready after ``successThreshold`` consecutive successes
and unready after ``failureThreshold`` consecutive failures; readiness failures never kill it.

The kubelet cancels a probe when its container ends and waits for it, so a probe must never
outlive a cancel. Timeouts are ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11
``wait_for`` returns the result instead of raising when the cancel lands after the awaited check
finished but before ``wait_for`` resumed, and the probe then ran on forever (holding ``stop_pod``
and so the pod's DELETED event for the cluster's STOP_SLACK). A check may still swallow a cancel
inside itself; the probe then notices the pending request (``Task.cancelling``) and stops.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Awaitable, Callable

from island_sandbox.podspec import ProbeSpec

Check = Callable[[], Awaitable[bool]]


def cancel_requested() -> bool:
    """True if the running task was asked to stop, even when something it awaited swallowed the
    CancelledError (asyncio.timeout takes back its own requests, so they do not count)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def tcp_check(host: str, port: int, timeout: float) -> bool:
    """A tcpSocket probe: the connection opens within the timeout (then it is closed), as the
    kubelet's dial-and-close. A bare non-blocking socket, not a stream: a burst of 500 islands
    probes 500 times a second in the one loop."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (host, port))
    except OSError:  # TimeoutError is one
        return False
    finally:
        sock.close()
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
            async with asyncio.timeout(spec.timeout):
                ok = await check()
        except TimeoutError:
            ok = False
        if cancel_requested():  # the check swallowed our cancel: honour it now
            raise asyncio.CancelledError()
        if tracker.record(ok):
            on_change(tracker.ready)
        await asyncio.sleep(max(0.0, spec.period - (loop.time() - started)))
