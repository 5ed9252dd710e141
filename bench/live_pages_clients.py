"""The pages of bench/live_pages.py: processes of raw HTTP/1.1 SSE clients (a selector loop each).

Run by live_pages.py (``--pages-proc``); kept apart so that each file stays small.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import sys
import time


def token(n: int) -> str:
    return f"bench-live-page-{n:04d}-" + "x" * 24


def instrument_priority() -> None:
    """The writer and the pages are the measuring instruments: on a shared machine, the server's
    hundreds of runnable threads would otherwise out-schedule these few single-threaded
    processes (the kernel shares CPU per thread), and their lag would be counted as the server's
    (a late receive, a commit stamped late). They use little CPU; as root they run at nice -10."""
    try:
        os.nice(-10)
    except OSError:
        print("(not root: the writer and pages run at normal priority)", file=sys.stderr)


# -- the pages: --clients processes, each a selector loop over its share of raw sockets -------------------
class Page:
    """One open page: an HTTP/1.1 GET /api/events, resumed with Last-Event-ID when the stream ends."""

    def __init__(self, n: int, port: int) -> None:
        self.n, self.port = n, port
        self.received: dict[int, float] = {}
        self.duplicates = self.resyncs = 0
        self.reconnects = -1
        self.status: int | None = None
        self.hello = False
        self.last_id: int | None = None
        self.sock: socket.socket | None = None
        self.carry = b""
        self.head = True

    def connect(self) -> socket.socket:
        self.reconnects += 1
        resume = f"Last-Event-ID: {self.last_id}\r\n" if self.last_id is not None else ""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.sendall((f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAccept: text/event-stream\r\n"
                      f"Authorization: Bearer {token(self.n)}\r\nConnection: close\r\n{resume}\r\n").encode())
        sock.setblocking(False)
        self.sock, self.carry, self.head = sock, b"", True
        return sock

    def feed(self, data: bytes, at: float) -> None:
        """Bytes off the socket at ``at``: a message counts once its closing blank line is in."""
        buf = self.carry + data if self.carry else data
        if self.head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.carry = buf
                return
            self.status, self.head, buf = int(buf.split(b" ", 2)[1]), False, buf[end + 4:]
        cut = buf.rfind(b"\n\n")  # each chunk holds whole messages: the chunk framing never splits one
        if cut < 0:
            self.carry = buf
            return
        done, self.carry = buf[:cut + 2], buf[cut + 2:]
        if not self.hello and b"event: hello" in done:
            self.hello = True
        if b"event: resync" in done:
            self.resyncs += done.count(b"event: resync")
        received, find = self.received, done.find
        pos = 0 if done.startswith(b"id: ") else find(b"\nid: ") + 1  # an id line opens each message
        while pos >= 0 and (pos > 0 or done.startswith(b"id: ")):
            end = find(b"\n", pos)
            event_id = int(done[pos + 4:end])
            if event_id in received:
                self.duplicates += 1
            else:
                received[event_id] = at
            if self.last_id is None or event_id > self.last_id:
                self.last_id = event_id
            pos = find(b"\nid: ", end)
            pos = pos + 1 if pos >= 0 else -1


def pages_process(cfg: dict) -> None:
    """Open cfg["pages"] pages; print "hello" once all are in, read the expected ids from stdin,
    print the receive times once every page has all of them (or at the deadline)."""
    instrument_priority()
    sel = selectors.DefaultSelector()
    pages = [Page(n, cfg["port"]) for n in cfg["pages"]]
    for page in pages:
        sel.register(page.connect(), selectors.EVENT_READ, page)
    os.set_blocking(sys.stdin.fileno(), False)
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    said_hello, expected, lines, deadline = False, None, b"", None
    while True:
        for key, _ in sel.select(0.5):
            page = key.data
            if page is None:
                lines += os.read(sys.stdin.fileno(), 1 << 20)
                if lines.endswith(b"\n"):
                    expected, deadline = set(json.loads(lines)), time.monotonic() + cfg["timeout"]
                    sel.unregister(sys.stdin)
                continue
            try:
                data = page.sock.recv(1 << 18)
            except (BlockingIOError, InterruptedError):
                continue
            at = time.time()
            if data:
                page.feed(data, at)
                continue
            sel.unregister(page.sock)
            page.sock.close()
            if page.status == 200:  # the stream's max_seconds: resume like EventSource
                sel.register(page.connect(), selectors.EVENT_READ, page)
        if not said_hello and all(p.hello or (p.status not in (None, 200)) for p in pages):
            print(json.dumps({"statuses": [p.status for p in pages]}), flush=True)
            said_hello = True
        if expected is not None and (all(expected <= p.received.keys() for p in pages)
                                     or time.monotonic() > deadline):
            break
    print(json.dumps({"cpu_s": time.process_time(), "pages": [
        {"n": p.n, "received": p.received, "duplicates": p.duplicates, "resyncs": p.resyncs,
         "reconnects": p.reconnects} for p in pages]}), flush=True)
