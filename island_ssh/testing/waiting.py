"""Waiting on a condition with a deadline: the one polling loop of tests, benchmarks, the demo
and the local services (never a fixed sleep standing in for synchronisation). It is the core's
``wait_until`` on the real clock."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from island_ssh.core.polling import WaitTimeout, wait_until

__all__ = ["WaitTimeout", "wait_for"]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition", *,
             interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy and return that; raise WaitTimeout
    naming ``what`` after ``timeout`` seconds."""
    return wait_until(predicate, timeout, what, clock=time.monotonic, pause=threading.Event().wait,
                      interval=interval)
