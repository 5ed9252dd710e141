"""Server-sent events of island transitions, one worker thread per open stream.

A stream lives at most ``max_seconds`` and then ends; the browser's EventSource reconnects by
itself with Last-Event-ID, and the feed replays what it missed. That bounds how long a WSGI
thread is held and lets a worker restart without hanging clients. A comment line every
``heartbeat`` seconds keeps proxies from closing an idle stream and lets the server notice a
client that went away (its write fails, the generator is closed, the subscription dropped).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Callable, Iterator

RETRY_MS = 2000


def format_event(data: str, event: str | None = None, event_id: int | None = None) -> str:
    """One SSE message; a newline inside ``data`` becomes a continuation line, never a new field."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {int(event_id)}")
    if event:
        lines.append(f"event: {event.splitlines()[0] if event.splitlines() else ''}")
    for line in data.split("\n") if data else [""]:
        lines.append(f"data: {line.rstrip(chr(13))}")
    return "\n".join(lines) + "\n\n"


def stream(feed, subscription, to_json: Callable[[object], dict], heartbeat: float, max_seconds: float,
           on_close: Callable[[], None] | None = None) -> Iterator[str]:
    """The body of GET /api/events: a hello, then one ``transition`` message per stored event."""
    deadline = time.monotonic() + max_seconds
    try:
        yield f"retry: {RETRY_MS}\n" + format_event(json.dumps({"stream": "open"}), "hello")
        last_sent = time.monotonic()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            item = subscription.get(timeout=min(heartbeat, left, 1.0))
            if item is None:
                if subscription.overflowed:
                    subscription.overflowed = False
                    yield format_event(json.dumps({"reason": "the stream fell behind; reload the list"}), "resync")
                    last_sent = time.monotonic()
                elif time.monotonic() - last_sent >= heartbeat:
                    yield ": keepalive\n\n"
                    last_sent = time.monotonic()
                continue
            payload = json.dumps(to_json(item), ensure_ascii=False, separators=(",", ":"))
            yield format_event(payload, "transition", item.event.id)
            last_sent = time.monotonic()
    finally:
        feed.unsubscribe(subscription)
        if on_close is not None:
            on_close()


class StreamSlots:
    """How many streams this process serves at once (each holds a WSGI thread)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, int(limit))
        self._used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._used >= self.limit:
                return False
            self._used += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._used = max(0, self._used - 1)

    @property
    def used(self) -> int:
        return self._used
