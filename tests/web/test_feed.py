"""The live feed: the pure cursor (ids committed out of order), the poller across processes, and the
server-sent events stream through a real waitress server read by a real HTTP client."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from waitress.server import create_server

from island_ssh.service.feed import EventFeed, FeedCursor
from island_ssh_web import create_app
from web_support import LIU, allocate, bearer, service_without_cluster, wait_for, web_settings


# -- FeedCursor (pure) ----------------------------------------------------------------------------
def test_cursor_delivers_each_id_once_in_order():
    c = FeedCursor(position=10)
    assert c.accept([11, 12], now=0) == [11, 12]
    assert c.poll_from() == 12
    assert c.accept([11, 12, 13], now=1) == [13]


def test_cursor_waits_for_an_id_committed_late():
    c = FeedCursor(position=5, gap_grace=10)
    assert c.accept([7], now=0) == [7]  # 6 was inserted first but is not committed yet
    assert c.poll_from() == 5  # keep reading from below the gap
    assert c.accept([7], now=1) == []
    assert c.accept([6, 7, 8], now=2) == [6, 8]
    assert c.poll_from() == 8


def test_cursor_gives_up_a_gap_after_the_grace():
    c = FeedCursor(position=1, gap_grace=5)
    c.accept([3], now=0)  # 2 was rolled back and will never appear
    assert c.poll_from() == 1
    c.accept([], now=6)
    assert c.poll_from() == 3
    assert c.accept([2, 4], now=7) == [4]  # too late: 2 is not delivered after being given up


# -- EventFeed over MariaDB --------------------------------------------------------------------------
WRITER = """
import sys
from island_ssh.core.settings import DatabaseSettings
from island_ssh.store import Store
settings = DatabaseSettings(host=sys.argv[1], port=int(sys.argv[2]), user=sys.argv[3], password=sys.argv[4],
                            name=sys.argv[5])
with Store(settings) as store:
    row = store.get(int(sys.argv[6]))
    for state in ("applying", "pending", "creating"):
        assert store.transition(row.island_id, row.generation, state, state.title(), "from another process")
"""


def test_transitions_written_by_another_process_reach_subscribers(store, db_settings):
    settings = web_settings(db_settings=db_settings)
    row = allocate(store, settings, "刘电波")
    feed = EventFeed(store, poll_interval=0.1)
    sub = feed.subscribe()
    try:
        d = db_settings
        subprocess.run([sys.executable, "-c", WRITER, d.host, str(d.port), d.user, d.password, d.name,
                        str(row.island_id)], check=True, timeout=60)
        got = []

        def three_arrived():
            item = sub.get(0.2)
            if item is not None:
                got.append(item)
            return len(got) >= 3

        wait_for(three_arrived, 10, "three transitions from the other process")
        assert [i.event.to_state for i in got] == ["applying", "pending", "creating"]
        assert got[-1].island.state == "creating" and got[-1].island.owner == "刘电波"
    finally:
        feed.unsubscribe(sub)
        feed.close()
        store.release(row.island_id, store.get(row.island_id).generation, "TestDone")


def test_a_subscriber_resuming_after_an_id_gets_the_backlog(store, db_settings):
    settings = web_settings(db_settings=db_settings)
    row = allocate(store, settings, "bob")
    start = store.events_since(None, 1)[-1].id
    store.transition(row.island_id, row.generation, "applying", "Applying", "")
    feed = EventFeed(store, poll_interval=0.1)
    try:
        sub = feed.subscribe(after_id=start)
        item = sub.get(2)
        assert item is not None and item.event.to_state == "applying" and item.event.id > start
    finally:
        feed.close()
        store.release(row.island_id, row.generation, "TestDone")


# -- SSE through waitress ---------------------------------------------------------------------------------
@pytest.fixture()
def served(store, db_settings):
    settings = web_settings(db_settings=db_settings)
    app = create_app(settings, service=service_without_cluster(settings, store), heartbeat=1.0, stream_seconds=20,
                     max_streams=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", settings, app
    finally:
        server.close()
        thread.join(5)
        app.extensions["island_ssh.service.feed"].close()


def read_events(response, into: list, stop: threading.Event):
    """Parse SSE messages off a streaming requests response into dicts."""
    message: dict = {}
    try:
        for raw in response.iter_lines(decode_unicode=True):
            if stop.is_set():
                return
            if raw == "":
                if message:
                    message["received"] = time.monotonic()
                    into.append(message)
                message = {}
            elif raw.startswith(":"):
                into.append({"comment": raw, "received": time.monotonic()})
            else:
                field, _, value = raw.partition(": ")
                message[field] = message.get(field, "") + value if field == "data" and field in message else value
    except Exception:  # closing the response from the test's thread ends the read in several ways
        return


def test_events_arrive_promptly_over_waitress(served, store):
    url, settings, _ = served
    row = allocate(store, settings, "刘电波")
    received: list = []
    stop = threading.Event()
    response = requests.get(f"{url}/api/events", headers=bearer(LIU), stream=True, timeout=10)
    try:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
        reader = threading.Thread(target=read_events, args=(response, received, stop), daemon=True)
        reader.start()
        wait_for(lambda: any(m.get("event") == "hello" for m in received), 5, "the hello message")
        latencies = []
        for state in ("applying", "pending", "creating", "starting"):
            sent = time.monotonic()
            store.transition(row.island_id, row.generation, state, state.title(), "")
            message = wait_for(lambda: next((m for m in received if m.get("event") == "transition"
                                             and json.loads(m["data"])["event"]["to_state"] == state), None),
                               5, f"the {state} event")
            latencies.append(message["received"] - sent)
            data = json.loads(message["data"])
            assert data["island"]["owner"] == "刘电波" and data["current"] is True
            assert int(message["id"]) == data["event"]["id"]
        assert max(latencies) < 2.0, latencies  # poll interval 0.5 s, no buffering on the way
        wait_for(lambda: any("comment" in m for m in received), 5, "a keepalive comment")
    finally:
        stop.set()
        response.close()
        store.release(row.island_id, row.generation, "TestDone")


def test_last_event_id_resumes_without_loss(served, store):
    url, settings, _ = served
    row = allocate(store, settings, "bob")
    before = store.events_since(None, 1)[-1].id
    store.transition(row.island_id, row.generation, "applying", "Applying", "while nobody listened")
    response = requests.get(f"{url}/api/events", headers={**bearer(LIU), "Last-Event-ID": str(before)},
                            stream=True, timeout=10)
    received: list = []
    stop = threading.Event()
    try:
        threading.Thread(target=read_events, args=(response, received, stop), daemon=True).start()
        message = wait_for(lambda: next((m for m in received if m.get("event") == "transition"), None), 5,
                           "the replayed event")
        assert json.loads(message["data"])["event"]["message"] == "while nobody listened"
    finally:
        stop.set()
        response.close()
        store.release(row.island_id, row.generation, "TestDone")


def test_streams_beyond_the_limit_get_503_and_slots_come_back(served):
    url, _, app = served
    slots = app.blueprints["island_ssh"].island_ctx.slots
    open_streams = [requests.get(f"{url}/api/events", headers=bearer(LIU), stream=True, timeout=10) for _ in range(2)]
    try:
        assert all(r.status_code == 200 for r in open_streams)
        refused = requests.get(f"{url}/api/events", headers=bearer(LIU), timeout=10)
        assert refused.status_code == 503 and refused.json()["error"] == "TooManyStreams"
    finally:
        for r in open_streams:
            r.close()
    # the server notices the closed clients at the next keepalive write (heartbeat 1 s)
    wait_for(lambda: slots.used == 0, 10, "the stream slots to be given back")
    again = requests.get(f"{url}/api/events", headers=bearer(LIU), stream=True, timeout=10)
    assert again.status_code == 200
    again.close()


@pytest.mark.parametrize("after", ["abc", "-1", "1e9", "$(reboot)"])
def test_a_bad_resume_id_is_400(served, after):
    url, _, _ = served
    r = requests.get(f"{url}/api/events", params={"after": after}, headers=bearer(LIU), timeout=10)
    assert r.status_code == 400
