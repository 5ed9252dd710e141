"""Failed-login limiting: at most ``limit`` failures per client address within ``window`` seconds.

Counted per client address (``request.remote_addr``), not per user name: the login form asks only
for a token, so a failed attempt names no user, and a bearer token that matched nobody names none
either. While an address is over the limit every attempt from it is refused *before* the token is
looked at: answering a correct guess normally would tell the guesser which one was right.

The counts live in this process's memory: each worker (gunicorn -w N) counts on its own, so the
effective limit is N times ``limit``, and a restart forgets them. Tokens are at least 32 random
characters (see island_ssh_web.auth.MIN_SECRET), so this limit is about noise in the logs and
load, not about making guessing hopeless. Behind a reverse proxy every client has the proxy's
address unless waitress is told to trust its X-Forwarded-For (``trusted_proxy``); then one
client's failures lock out everyone behind that proxy for ``window`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

from island_ssh.core.errors import IslandError

MAX_KEYS = 10_000
"""Addresses remembered at once; the oldest are forgotten first (a bound on memory, not on guessing)."""


class RateLimited(IslandError):
    """Too many failed logins (or unknown API tokens) from one client address: wait and retry."""

    cli_exit = 1  # a web limit: no command line path raises it
    http_status = 429

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class FailureLimiter:
    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, int(limit))
        self.window = max(1.0, float(window))
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """0 when ``key`` may try again now, else the whole seconds until its oldest failure expires."""
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if times is None or len(times) < self.limit:
                return 0
            return max(1, int(times[0] + self.window - now + 0.999))

    def check(self, key: str) -> None:
        """RateLimited (429 with Retry-After) while ``key`` is over the limit."""
        wait = self.retry_after(key)
        if wait:
            raise RateLimited(f"too many failed logins from your address; try again in {wait} seconds",
                              retry_after=wait)

    def failed(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if times is None:
                if len(self._failures) >= MAX_KEYS:
                    self._failures.pop(next(iter(self._failures)))  # dicts keep insertion order
                times = self._failures[key] = deque()
            times.append(now)
            while len(times) > self.limit:  # more than limit entries tell nothing more
                times.popleft()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
