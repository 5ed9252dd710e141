"""Polling a condition until a deadline: the one wait loop of the use cases, the tests, the
benchmarks and the local services.

The clock and the pause are the caller's (``time.monotonic`` and an Event's ``wait`` in
production), so the core stays free of time and threads, and a test moves time by hand instead
of sleeping through a timeout.
"""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not become true in time; the message names what was waited for."""

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(f"timed out after {timeout:g}s waiting for {what}")
        self.what = what
        self.timeout = timeout


def wait_until(check: Callable[[], T], timeout: float, what: str, *, clock: Callable[[], float],
               pause: Callable[[float], object], interval: float) -> T:
    """Call ``check`` until it returns something truthy and return that; raise WaitTimeout
    naming ``what`` once ``clock`` has passed ``timeout`` seconds from the first call.

    ``check`` runs at least once, and once more after the deadline's last pause, so a condition
    that came true during that pause is not reported as a timeout."""
    deadline = clock() + timeout
    while True:
        value = check()
        if value:
            return value
        if clock() > deadline:
            raise WaitTimeout(what, timeout)
        pause(interval)
