"""Waiting on a condition with a deadline: the one polling loop of tests, benchmarks, the demo
and the local services (never a fixed sleep standing in for synchronisation)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


class WaitTimeout(TimeoutError):
    """The condition did not become true in time; the message names it."""


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition", *,
             interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy and return that; raise WaitTimeout
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}")
        pause.wait(interval)
