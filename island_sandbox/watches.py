"""Watch streams: ``?watch=true`` as the real API server answers it.

One JSON event per line, ``application/json``, chunked. The synthetic ``ADDED`` events of the
current state come first when no resourceVersion is given (or ``sendInitialEvents=true``, closed
by the ``k8s.io/initial-events-end`` BOOKMARK); then the history after the given version, then
live events until the timeout, when the stream ends cleanly. A too-old version is one ERROR event
carrying a 410 Expired Status, with HTTP 200, as on a real server.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp.web

from island_sandbox import tables
from island_sandbox.apierrors import ApiError, bad_request
from island_sandbox.objects import Event, ObjectStore
from island_sandbox.selectors import Selector


@dataclass(frozen=True)
class WatchRequest:
    plural: str
    kind: str
    namespace: str | None
    selector: Selector
    resource_version: str = ""
    send_initial_events: bool = False
    as_table: bool = False
    include_object: str = "Metadata"
    timeout: float = 1800.0


WRITE_BATCH = 256  # events joined into one write at most (each is still one line, one JSON object)


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def _event_line(event: Event, kind: str) -> bytes:
    """The line of ``event`` as ``kind``: JSON-encoded once, whatever the number of watchers (at a
    launch burst every pod change goes to each open watch: kubectl's, the kubelets', tools')."""
    line = event.lines.get(kind)
    if line is None:
        line = event.lines[kind] = _line(kind, event.obj)
    return line


async def _write_lines(response: aiohttp.web.StreamResponse, chunks: list[bytes]) -> None:
    for start in range(0, len(chunks), WRITE_BATCH):
        await response.write(b"".join(chunks[start:start + WRITE_BATCH]))


async def serve_watch(raw: aiohttp.web.BaseRequest, store: ObjectStore, w: WatchRequest) -> aiohttp.web.StreamResponse:
    initial = w.resource_version in ("", "0") or w.send_initial_events
    try:
        since = None if initial else int(w.resource_version)
    except ValueError:
        raise bad_request(f"invalid resource version: {w.resource_version}") from None
    response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json",
                                                   "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    try:
        watcher, backlog = store.watch(w.plural, w.namespace, since)
    except ApiError as e:
        await response.prepare(raw)
        await response.write(_line("ERROR", e.status()))
        await response.write_eof()
        return response

    def frame(kind: str, obj: dict[str, Any]) -> bytes:
        if w.as_table:
            obj = tables.render_table(w.plural, [obj], time.time(), obj["metadata"]["resourceVersion"],
                                      w.include_object)
        return _line(kind, obj)

    def translate(event: Event) -> bytes | None:
        now_in = w.selector.matches(event.obj)
        kind = event.type
        if event.type == "MODIFIED":
            was_in = event.old is not None and w.selector.matches(event.old)
            if now_in != was_in:  # moved across the selector: that is an ADDED or DELETED to this watcher
                kind, now_in = ("ADDED" if now_in else "DELETED"), True
        if not now_in:
            return None
        return frame(kind, event.obj) if w.as_table else _event_line(event, kind)

    loop = asyncio.get_running_loop()
    try:
        await response.prepare(raw)
        chunks: list[bytes] = []
        if initial:
            chunks += [frame("ADDED", obj) for obj in list(store.items(w.plural, w.namespace))
                       if w.selector.matches(obj)]
            if w.send_initial_events:
                mark = {"kind": w.kind, "apiVersion": "v1", "metadata": {
                    "resourceVersion": str(store.resource_version),
                    "annotations": {"k8s.io/initial-events-end": "true"}}}
                chunks.append(_line("BOOKMARK", mark))
        chunks += [chunk for event in backlog if (chunk := translate(event)) is not None]
        await _write_lines(response, chunks)
        deadline = loop.time() + w.timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                # not wait_for: on 3.11 it can swallow the cancel of a vanished client's handler
                # (when an event arrives in the same turn) and keep a dead watcher registered
                async with asyncio.timeout(remaining):
                    event = await watcher.queue.get()
            except TimeoutError:
                break
            # what queued up meanwhile goes out in the same write (one syscall, not one per event)
            events = [event] + [watcher.queue.get_nowait() for _ in range(min(watcher.queue.qsize(), WRITE_BATCH))]
            await _write_lines(response, [chunk for e in events if (chunk := translate(e)) is not None])
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away; a cancelled handler (same cause) unwinds through finally
    finally:
        store.unwatch(watcher)
    return response
