"""Server-sent events of island transitions, one worker thread per open stream.

A stream lives at most ``max_seconds`` and then ends; the browser's EventSource reconnects by
itself with Last-Event-ID, and the feed replays what it missed. That bounds how long a WSGI
thread is held and lets a worker restart without hanging clients. A comment line every
``heartbeat`` seconds keeps proxies from closing an idle stream and lets the server notice a
client that went away (its write fails, the generator is closed, the subscription dropped).

Each open stream holds a WSGI thread (`island-ssh serve` gives streams web.max_streams threads of
their own, beyond web.threads: island_ssh_web.serving). What a page costs beyond its thread is
kept small: the feed serialises each transition once for all pages (``transition_message``, made
by the feed's poller), a page holds a place in the feed's shared log rather than a queue, and what
one poll brought is one write.

The slot a stream holds belongs to the response body (``SlotStream``), not to the generator: a
generator that never started does not run its ``finally`` when closed, so a HEAD request (whose
body the server never reads) used to keep its slot for ever. The WSGI server always calls the
body's ``close()``; that is where the slot and the subscription are given back.
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


def transition_message(item, key, to_json: Callable[[object], dict]) -> bytes:
    """The ``transition`` message of a FeedItem (UTF-8), serialised once per ``key`` and shared by
    every stream: ``key`` must name everything ``to_json``'s answer depends on besides the item."""
    return item.rendered(key, lambda: format_event(
        json.dumps(to_json(item), ensure_ascii=False, separators=(",", ":")), "transition", item.event.id).encode())


def stream(subscription, render: Callable[[object], bytes], heartbeat: float,
           max_seconds: float) -> Iterator[str | bytes]:
    """The body of GET /api/events: a hello, then one ``transition`` message per stored event
    (``render(item)``, e.g. ``transition_message``). What arrived together is written together:
    one chunk, one write, however many transitions a poll brought.
    Releasing the subscription and the slot is SlotStream's job, not this generator's."""
    deadline = time.monotonic() + max_seconds
    yield f"retry: {RETRY_MS}\n" + format_event(json.dumps({"stream": "open"}), "hello")
    last_sent = time.monotonic()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        items = subscription.get_batch(timeout=min(heartbeat, left, 1.0))
        chunk = []
        if subscription.overflowed:
            subscription.overflowed = False
            chunk.append(format_event(json.dumps({"reason": "the stream fell behind; reload the list"}),
                                      "resync").encode())
        chunk.extend(render(item) for item in items)
        if chunk:
            yield b"".join(chunk)
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= heartbeat:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()


class SlotStream:
    """A WSGI body that owns a stream slot: ``close()`` gives the slot back (and runs ``on_close``)
    whether or not the body was ever iterated, exactly once."""

    def __init__(self, body: Iterator[str], slot: "Slot", on_close: Callable[[], None] | None = None) -> None:
        self._body = body
        self._slot = slot
        self._on_close = on_close

    def __iter__(self) -> "SlotStream":
        return self

    def __next__(self) -> str:
        return next(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            try:
                if self._on_close is not None:
                    self._on_close()
                    self._on_close = None
            finally:
                self._slot.release()


class StreamsBusy(Exception):
    """No slot: ``per_user`` says whether this user's own cap (not the server's) was reached."""

    def __init__(self, per_user: bool) -> None:
        super().__init__("per user" if per_user else "server")
        self.per_user = per_user


class Slot:
    """One taken slot; ``release()`` may be called any number of times, it counts once."""

    def __init__(self, slots: "StreamSlots", user: str) -> None:
        self._slots = slots
        self.user = user
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._slots._give_back(self.user)

    @property
    def released(self) -> bool:
        return self._released


class StreamSlots:
    """How many streams this process serves at once (each holds a WSGI thread), and how many of
    them one user may hold (so one user's tabs or script cannot turn live updates off for all)."""

    def __init__(self, limit: int, per_user: int | None = None) -> None:
        self.limit = max(0, int(limit))
        self.per_user = self.limit if per_user is None else max(0, int(per_user))
        self._used = 0
        self._by_user: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, user: str) -> Slot:
        """A slot for ``user``, or StreamsBusy (the user's own cap is checked first: it is the
        answer that tells them to close a tab)."""
        with self._lock:
            if self._by_user.get(user, 0) >= self.per_user:
                raise StreamsBusy(per_user=True)
            if self._used >= self.limit:
                raise StreamsBusy(per_user=False)
            self._used += 1
            self._by_user[user] = self._by_user.get(user, 0) + 1
        return Slot(self, user)

    def _give_back(self, user: str) -> None:
        with self._lock:
            self._used = max(0, self._used - 1)
            left = self._by_user.get(user, 0) - 1
            if left > 0:
                self._by_user[user] = left
            else:
                self._by_user.pop(user, None)

    @property
    def used(self) -> int:
        return self._used

    def used_by(self, user: str) -> int:
        with self._lock:
            return self._by_user.get(user, 0)
