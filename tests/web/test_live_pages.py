"""Live pages (issue 16): several open pages each get every transition of a burst, once, over real
HTTP from the app served as `island-ssh serve` serves it (island_ssh_web.serving: waitress with the
web settings' limits and threads); a page past web.max_streams is refused (503: it polls); a page
that falls behind the feed's shared log is told to resync. Not timed: bench/live_pages.py measures.
"""

from __future__ import annotations

import json
import threading

import pytest
import requests

from island_ssh.service.feed import EventFeed
from island_ssh.store.islands import Move
from island_ssh_web import create_app
from island_ssh_web.serving import create_server, waitress_options
from web_support import ADMIN, BOB, LIU, allocate, bearer, service_without_cluster, wait_for, web_settings

STATES = ("applying", "pending", "creating", "starting", "ready")


@pytest.fixture()
def served(store, db_settings):
    settings = web_settings(db_settings=db_settings, threads=4, max_streams=5, feed_poll_interval=0.05)
    app = create_app(settings, service=service_without_cluster(settings, store), heartbeat=1.0, stream_seconds=30)
    server = create_server(app, settings.web, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", settings, app
    finally:
        server.close()
        thread.join(5)
        app.extensions["island_ssh.service.feed"].close()


class Page:
    """One open page: GET /api/events read on its own thread, messages parsed as EventSource does."""

    def __init__(self, url: str, token: str) -> None:
        self.response = requests.get(f"{url}/api/events", headers=bearer(token), stream=True, timeout=30)
        self.messages: list[dict] = []
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        message: dict = {}
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line == "":
                    if message:
                        self.messages.append(message)
                    message = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    message[name] = value
        except Exception:  # closed by the test
            return

    def transitions(self) -> list[dict]:
        return [m for m in list(self.messages) if m.get("event") == "transition"]

    def close(self) -> None:
        self.response.close()


def test_every_page_gets_every_transition_of_a_burst_once(served, store):
    url, settings, app = served
    rows = [allocate(store, settings, "刘电波") for _ in range(6)]
    pages = {"owner": Page(url, LIU), "owner's second tab": Page(url, LIU), "other": Page(url, BOB),
             "admin": Page(url, ADMIN)}
    try:
        assert {name: p.response.status_code for name, p in pages.items()} == dict.fromkeys(pages, 200)
        wait_for(lambda: all(any(m.get("event") == "hello" for m in p.messages) for p in pages.values()), 10,
                 "every page's hello")
        start = store.events_since(None, 1)[-1].id
        for state in STATES:  # as the tracker stores a burst: one transaction per batch of moves
            assert all(store.transition_batch([Move(r.island_id, r.generation, state, state.title(), "burst")
                                               for r in rows]))
        expected = [e.id for e in store.events_since(start, 1000)]
        assert len(expected) == len(rows) * len(STATES)
        wait_for(lambda: all({int(m["id"]) for m in p.transitions()} >= set(expected) for p in pages.values()),
                 20, "every page to get every transition")
        for name, page in pages.items():
            got = page.transitions()
            ids = [int(m["id"]) for m in got]
            assert sorted(ids) == expected, f"{name}: duplicates or strangers in {ids}"
            for message in got:
                data = json.loads(message["data"])
                assert data["event"]["id"] == int(message["id"])
                assert data["island"]["owner"] == "刘电波"
                # one text per item and answer, shared by the pages: each still sees its own rights
                assert data["island"]["can_change"] is (name != "other"), (name, data["island"]["can_change"])
        by_island = {}
        for message in pages["other"].transitions():
            data = json.loads(message["data"])
            by_island.setdefault(data["event"]["island_id"], []).append(data["event"]["to_state"])
        assert by_island == {r.island_id: list(STATES) for r in rows}  # each island's history, in order
    finally:
        for page in pages.values():
            page.close()
        for r in rows:
            store.release(r.island_id, store.get(r.island_id).generation, "TestDone")


def test_a_page_past_max_streams_is_refused_and_polls(served):
    url, settings, app = served
    pages = [Page(url, token) for token in (LIU, LIU, BOB, BOB, ADMIN)]
    try:
        assert [p.response.status_code for p in pages] == [200] * 5  # web.max_streams = 5
        refused = requests.get(f"{url}/api/events", headers=bearer(ADMIN), timeout=10)
        assert refused.status_code == 503 and "every live-update slot" in refused.json()["message"]
        # the streams have threads of their own: a plain request is still answered at once
        assert requests.get(f"{url}/api/vocabulary", timeout=10).status_code == 200
    finally:
        for page in pages:
            page.close()
    slots = app.blueprints["island_ssh"].island_ctx.slots
    wait_for(lambda: slots.used == 0, 10, "the slots of the closed pages to come back")


def test_streams_get_threads_beyond_web_threads(db_settings):
    web = web_settings(db_settings=db_settings, threads=7, max_streams=40).web
    options = waitress_options(web)
    assert options["threads"] == 47
    # a stream's connection starts a new output buffer every 256 KiB, not every 16 MiB it wrote
    assert options["outbuf_high_watermark"] == 256 * 1024


def test_a_reader_behind_the_shared_log_is_told_to_resync(store, db_settings):
    settings = web_settings(db_settings=db_settings)
    row = allocate(store, settings, "bob")
    feed = EventFeed(store, poll_interval=0.05, log_size=2)
    sub = feed.subscribe()
    try:
        # five events in one commit, so one poll (the feed's own or this one) reads them together;
        # the log keeps the last two
        assert all(store.transition_batch([Move(row.island_id, row.generation, state, state.title(), "")
                                           for state in STATES]))
        feed.poll_once()
        got = sub.get_batch(timeout=5)
        assert sub.overflowed and [i.event.to_state for i in got] == ["starting", "ready"]
        assert got[-1].island.state == "ready"
    finally:
        feed.unsubscribe(sub)
        feed.close()
        store.release(row.island_id, store.get(row.island_id).generation, "TestDone")
