"""Live-update slots (issue 11, hole 2), through a real waitress server on 127.0.0.1.

A HEAD of /api/events used to take a slot that was never given back (the body's generator never
started, so its ``finally`` never ran): 16 HEADs turned live updates off for everyone. Now HEAD is
refused, the slot belongs to the response body (given back by the server's close()), and one user
may hold at most web.streams_per_user streams.
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests
from waitress.server import create_server

from island_ssh_web import create_app
from island_ssh_web import sse
from web_support import ADMIN, BOB, LIU, bearer, service_without_cluster, wait_for, web_settings


@pytest.fixture()
def served(store, db_settings):
    settings = web_settings(db_settings=db_settings, streams_per_user=4)
    app = create_app(settings, service=service_without_cluster(settings, store), heartbeat=0.5, stream_seconds=30,
                     max_streams=6)
    server = create_server(app, host="127.0.0.1", port=0, threads=10)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", app.blueprints["island_ssh"].island_ctx.slots
    finally:
        server.close()
        thread.join(5)
        app.extensions["island_ssh.service.feed"].close()


def open_stream(url: str, token: str) -> requests.Response:
    return requests.get(f"{url}/api/events", headers=bearer(token), stream=True, timeout=10)


def hello(response: requests.Response) -> str:
    """The first message of a stream (read with the response's own timeout)."""
    lines = []
    for line in response.iter_lines(decode_unicode=True):
        lines.append(line)
        if line == "" and any(x.startswith("data:") for x in lines):
            break
    return "\n".join(lines)


def test_heads_are_refused_and_take_no_slot(served):
    url, slots = served
    for _ in range(32):
        r = requests.head(f"{url}/api/events", headers=bearer(LIU), timeout=10)
        assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert slots.used == 0
    stream = open_stream(url, LIU)
    try:
        assert stream.status_code == 200
        assert "event: hello" in hello(stream)
    finally:
        stream.close()


def test_a_client_that_goes_away_gives_its_slot_back(served):
    url, slots = served
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {LIU}\r\n\r\n".encode())
        head = b""
        while b"event: hello" not in head:
            chunk = raw.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 200")
        assert slots.used == 1 and slots.used_by("刘电波") == 1
    # the next keepalive write (every 0.5 s) fails, waitress closes the body, the slot comes back
    wait_for(lambda: slots.used == 0, 10, "the slot of the closed client to come back")
    assert slots.used_by("刘电波") == 0


def test_one_users_fifth_stream_is_refused_while_another_user_is_served(served):
    url, slots = served
    mine = [open_stream(url, LIU) for _ in range(4)]
    try:
        assert [r.status_code for r in mine] == [200] * 4
        fifth = requests.get(f"{url}/api/events", headers=bearer(LIU), timeout=10)
        assert fifth.status_code == 503 and fifth.json()["error"] == "TooManyStreams"
        assert "you already have 4" in fifth.json()["message"] and int(fifth.headers["Retry-After"]) > 0
        bobs = open_stream(url, BOB)
        try:
            assert bobs.status_code == 200 and "event: hello" in hello(bobs)
            assert slots.used_by("刘电波") == 4 and slots.used_by("bob") == 1
        finally:
            bobs.close()
    finally:
        for r in mine:
            r.close()
    wait_for(lambda: slots.used == 0, 10, "every slot back")


def test_the_server_wide_limit_still_holds(served):
    url, slots = served
    # six slots in all: three users of two streams each fill them; a fourth user is refused
    tokens = [LIU, LIU, BOB, BOB]
    held = [open_stream(url, t) for t in tokens]
    try:
        assert all(r.status_code == 200 for r in held)
        two_more = [open_stream(url, ADMIN) for _ in range(2)]
        held += two_more
        assert all(r.status_code == 200 for r in two_more) and slots.used == 6
        refused = requests.get(f"{url}/api/events", headers=bearer(LIU), timeout=10)
        assert refused.status_code == 503 and "every live-update slot" in refused.json()["message"]
    finally:
        for r in held:
            r.close()
    wait_for(lambda: slots.used == 0, 10, "every slot back")


# -- the body owns the slot (no server needed to show close() without iteration) -------------------------
def test_closing_a_body_never_read_gives_the_slot_back_once():
    slots = sse.StreamSlots(limit=2, per_user=2)
    closed = []

    def body():
        try:
            yield "never"
        finally:
            closed.append("generator")

    stream = sse.SlotStream(body(), slots.take("u"), on_close=lambda: closed.append("unsubscribed"))
    assert slots.used == 1
    stream.close()
    stream.close()
    assert slots.used == 0 and closed == ["unsubscribed"]  # an unstarted generator runs no finally


def test_a_users_own_cap_is_named_before_the_servers():
    slots = sse.StreamSlots(limit=3, per_user=1)
    first = slots.take("a")
    with pytest.raises(sse.StreamsBusy) as busy:
        slots.take("a")
    assert busy.value.per_user
    slots.take("b"), slots.take("c")
    with pytest.raises(sse.StreamsBusy) as busy:
        slots.take("d")
    assert not busy.value.per_user
    assert isinstance(first, sse.Slot)
    first.release()
    first.release()
    assert slots.used == 2 and slots.used_by("a") == 0
