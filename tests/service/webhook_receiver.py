"""A real HTTP receiver on 127.0.0.1 (http.server in a thread, port 0) for the webhook tests.

Each path behaves as one kind of receiver: /ok, /flaky (500 twice, then 200), /slow (answers
only when released), /trickle (a header byte every 50 ms), /huge (a 500 with megabytes of body), /redirect (302 to /ok), /hang (waits
for ``release``, recording when it arrived), /wecom-refuses (200 with errcode 93000).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.flaky_left = 2
        self.release = threading.Event()
        """/slow and /hang answer once this is set (or after 30 s)."""
        self.arrived = threading.Event()
        self.before_arrival: threading.Event | None = None
        """If given: whether it was set when a /hang request arrived is recorded as ``seen_set``."""
        self.seen_set: list[bool] = []
        self.trickled = 0
        """Bytes /trickle sent before the client went away."""
        self.server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self, path: str) -> list:
        with self.lock:
            return [r["json"] if r["json"] is not None else r["body"] for r in self.requests if r["path"] == path]

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["path"] == path)


def _handler(rx: Receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                parsed = json.loads(body.decode("utf-8"))
            except ValueError:
                parsed = None
            path = self.path.split("?")[0]
            with rx.lock:
                rx.requests.append({"path": path, "query": self.path.partition("?")[2], "at": time.monotonic(),
                                "body": body, "json": parsed,
                                    "content_type": self.headers.get("Content-Type"),
                                    "headers": dict(self.headers)})
            getattr(self, "on_" + path.strip("/").replace("-", "_"), self.on_ok)()

        def answer(self, status: int, body: bytes = b"ok", headers: dict | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

        def on_ok(self) -> None:
            self.answer(200, b'{"errcode":0,"errmsg":"ok"}')

        def on_flaky(self) -> None:
            with rx.lock:
                fail = rx.flaky_left > 0
                rx.flaky_left -= 1
            self.answer(500, b"internal error, try later") if fail else self.answer(200)

        def on_slow(self) -> None:
            rx.release.wait(30)
            self.answer(200)

        def on_hang(self) -> None:
            if rx.before_arrival is not None:
                rx.seen_set.append(rx.before_arrival.is_set())
            rx.arrived.set()
            rx.release.wait(30)
            self.answer(200)

        def on_huge(self) -> None:
            chunk = b"x" * 65536
            self.send_response(500)
            self.send_header("Content-Length", str(len(chunk) * 160))  # 10 MiB
            self.end_headers()
            try:
                for _ in range(160):
                    self.wfile.write(chunk)
            except OSError:
                pass  # the client read its cap and closed: expected

        def on_trickle(self) -> None:
            # a header one byte at a time, each well within any per-read timeout, for 10 s in all
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(200):
                try:
                    self.wfile.write(b"a")
                    self.wfile.flush()
                except OSError:
                    return
                rx.trickled += 1
                if rx.release.wait(0.05):
                    return

        def on_redirect(self) -> None:
            self.answer(302, b"", {"Location": rx.base + "/ok"})

        def on_wecom_refuses(self) -> None:
            self.answer(200, b'{"errcode":93000,"errmsg":"invalid webhook url"}')

        def on_bad_request(self) -> None:
            self.answer(400, b"bad payload")

    return Handler


@contextlib.contextmanager
def running_receiver():
    rx = Receiver()
    rx.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rx))
    rx.server.daemon_threads = True
    thread = threading.Thread(target=rx.server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield rx
    finally:
        rx.release.set()
        rx.server.shutdown()
        rx.server.server_close()
        thread.join(10)
