"""The clock API and the island page's clock forms (issue 13).

First through Flask's test client over a real Store and a FakeKubectl that records every call
(refusals: who may, what shape, hostile text; none may reach the cluster), then one end-to-end
test on the whole product (island_env: MariaDB, the cluster sandbox, real kubectl, the island's
server a real process under real libfaketime), where what counts is what the island's own server
answers to `time` over TCP, not what we stored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest

from fixtures.island import ask_time
from island_ssh_web import create_app
from web_support import ADMIN, BOB, LIU, allocate, bearer, login, service_without_cluster, wait_for, web_settings

HOSTILE = ["$(id)", "`id`", "a'b\"c", "x\ny", "k: [v", "{a: 1}", "- item", "刘电波", "x" * 5000, "\x00", "\ud800",
           "2021-09-18 04:59:50; reboot", "+1h && id", "preset daily-reset\nreset"]


@pytest.fixture(scope="module")
def settings(db_settings):
    return web_settings(db_settings=db_settings)


@pytest.fixture(scope="module")
def service(settings, store):
    return service_without_cluster(settings, store)


@pytest.fixture(scope="module")
def app(settings, service):
    yield create_app(settings, service=service)
    assert service.kubectl.calls == [], "a refusal reached the cluster"


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def liu_island(store, settings):
    """Liu's island, `ready` as far as the row says (the FakeKubectl holds no pod: a change that got
    past the checks would call it, and the module's app fixture fails on any call)."""
    row = allocate(store, settings, "刘电波", "dev")
    for state in ("applying", "pending", "creating", "starting", "ready"):
        store.transition(row.island_id, row.generation, state, "Test", "")
    assert store.get(row.island_id).state == "ready"
    yield store.get(row.island_id)
    store.release(row.island_id, row.generation, "TestDone")


def body(response) -> dict:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "File \"" not in text
    return json.loads(text)


def post_json(client, path: str, payload, token: str):
    """As json=, with every character escaped (a lone surrogate cannot be sent as UTF-8)."""
    return client.post(path, data=json.dumps(payload), content_type="application/json", headers=bearer(token))


def one_clear_line(response, status: int = 400) -> str:
    data = body(response)
    assert response.status_code == status, data
    message = data["message"]
    assert "\n" not in message and 10 < len(message) < 600, message
    return message


# -- who may ask --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,path", [
    ("GET", "/api/islands/1/clock"), ("POST", "/api/islands/1/clock"), ("GET", "/api/islands/1/clock/history"),
    ("GET", "/api/clock/presets"), ("GET", "/api/islands/1/clock/timelines"),
    ("POST", "/api/islands/1/clock/timelines"), ("DELETE", "/api/islands/1/clock/timelines/1")])
def test_every_clock_call_needs_a_user(client, method, path):
    r = client.open(path, method=method, json={"clock": "+1h"})
    assert r.status_code == 401 and body(r)["error"] == "Unauthorized"


def test_presets_are_listed(client, settings):
    data = body(client.get("/api/clock/presets", headers=bearer(BOB)))
    names = [p["name"] for p in data["presets"]]
    assert names == list(settings.clock.presets) and "daily-reset" in names
    assert all(p["spec"] for p in data["presets"])


def test_anyone_reads_an_islands_clock_but_only_the_owner_may_change_it(client, liu_island):
    r = client.get(f"/api/islands/{liu_island.island_id}/clock", headers=bearer(BOB))
    data = body(r)
    assert r.status_code == 200 and data["island_id"] == liu_island.island_id
    assert data["can_change"] is False and data["frozen"] is False and data["rate"] == 1.0 and data["badge"] == ""
    assert body(client.get(f"/api/islands/{liu_island.island_id}/clock", headers=bearer(LIU)))["can_change"] is True
    for payload in ({"clock": "+1h"}, {"preset": "daily-reset"}, {"action": "freeze"}, {"speed": 10}):
        r = client.post(f"/api/islands/{liu_island.island_id}/clock", json=payload, headers=bearer(BOB))
        assert r.status_code == 403 and body(r)["error"] == "PermissionDenied", payload
        assert "刘电波" in body(r)["message"]
    r = client.post(f"/api/islands/{liu_island.island_id}/clock/timelines", json={"steps": "at +1h reset"},
                    headers=bearer(BOB))
    assert r.status_code == 403 and body(r)["error"] == "PermissionDenied"


def test_a_timeline_is_stored_listed_and_cancelled_by_its_owner_only(client, liu_island):
    base = f"/api/islands/{liu_island.island_id}/clock/timelines"
    r = client.post(base, json={"steps": "at +1h preset daily-reset; at +2h reset"}, headers=bearer(LIU))
    assert r.status_code == 201, body(r)
    timeline = body(r)
    assert timeline["state"] == "active" and len(timeline["steps"]) == 2 and timeline["island_id"] == liu_island.island_id
    listed = body(client.get(base, headers=bearer(BOB)))["timelines"]
    assert [t["id"] for t in listed][0] == timeline["id"]
    shown = body(client.get(f"/api/islands/{liu_island.island_id}/clock", headers=bearer(LIU)))["timelines"]
    assert timeline["id"] in [t["id"] for t in shown]
    r = client.delete(f"{base}/{timeline['id']}", headers=bearer(BOB))
    assert r.status_code == 403 and body(r)["error"] == "PermissionDenied"
    r = client.delete(f"{base}/{timeline['id']}", headers=bearer(LIU))
    assert r.status_code == 200 and body(r)["state"] == "cancelled"
    assert [t for t in body(client.get(base, headers=bearer(LIU)))["timelines"]
            if t["id"] == timeline["id"]][0]["state"] == "cancelled"


# -- what shape -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [
    {}, {"clock": "+1h", "speed": 10}, {"clock": 5}, {"clock": None}, {"preset": 3}, {"action": "explode"},
    {"action": "FREEZE; reboot"}, {"speed": True}, {"speed": "fast"}, {"speed": [10]}, {"speed": None},
    {"color": "red"}, [], "reset"])
def test_clock_bodies_of_the_wrong_shape_are_one_clear_400(client, liu_island, payload):
    r = client.post(f"/api/islands/{liu_island.island_id}/clock", json=payload, headers=bearer(LIU))
    one_clear_line(r)


def test_not_finite_speeds_are_refused(client, liu_island):
    for raw in ('{"speed": NaN}', '{"speed": Infinity}', '{"speed": -Infinity}'):
        r = client.post(f"/api/islands/{liu_island.island_id}/clock", data=raw, content_type="application/json",
                        headers=bearer(LIU))
        assert r.status_code == 400, raw


@pytest.mark.parametrize("payload", [{"clock": "1969-12-31 23:59:59"}, {"clock": "2038-01-19 03:14:08"},
                                     {"clock": "9999-01-01 00:00:00"}, {"clock": "+1y"}, {"clock": "++1h"},
                                     {"speed": 0}, {"speed": -1}, {"speed": 1e9}, {"speed": "x0"},
                                     {"preset": "no-such-preset"}, {"preset": "Asia/Shanghai"}])
def test_out_of_range_clocks_speeds_and_unknown_presets_are_refused(client, liu_island, payload):
    r = client.post(f"/api/islands/{liu_island.island_id}/clock", json=payload, headers=bearer(LIU))
    one_clear_line(r)


@pytest.mark.parametrize("field", ["clock", "preset"])
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_clock_text_is_refused_in_one_line(client, liu_island, field, value):
    r = post_json(client, f"/api/islands/{liu_island.island_id}/clock", {field: value}, LIU)
    message = one_clear_line(r)
    assert "x" * 200 not in message  # a huge value is not echoed whole


@pytest.mark.parametrize("value", HOSTILE + ["at +0", "at soon reset", "at +1h", "at -1h reset",
                                             "; ; ;", "at +1h reset; " * 400], ids=range(len(HOSTILE) + 6))
def test_hostile_timelines_are_refused_in_one_line(client, liu_island, value):
    r = post_json(client, f"/api/islands/{liu_island.island_id}/clock/timelines", {"steps": value}, LIU)
    message = one_clear_line(r)
    assert "x" * 200 not in message


@pytest.mark.parametrize("payload", [{}, {"steps": 5}, {"steps": None}, {"steps": "at +1h reset", "more": 1}])
def test_timeline_bodies_of_the_wrong_shape_are_400(client, liu_island, payload):
    one_clear_line(client.post(f"/api/islands/{liu_island.island_id}/clock/timelines", json=payload,
                               headers=bearer(LIU)))


@pytest.mark.parametrize("path", ["/api/islands/999999/clock", "/api/islands/999999/clock/history",
                                  "/api/islands/999999/clock/timelines", "/api/islands/99999999999999/clock"])
def test_unknown_islands_are_404(client, path):
    r = client.get(path, headers=bearer(LIU))
    assert r.status_code == 404 and body(r)["error"] == "IslandNotFound"


def test_history_limits_are_checked(client, liu_island):
    for bad in ("0", "1001", "x", "-1", ""):
        r = client.get(f"/api/islands/{liu_island.island_id}/clock/history?limit={bad}", headers=bearer(LIU))
        assert r.status_code == 400, bad
    r = client.get(f"/api/islands/{liu_island.island_id}/clock/history?limit=5", headers=bearer(LIU))
    assert r.status_code == 200 and isinstance(body(r)["history"], list)


# -- the page -------------------------------------------------------------------------------------------
def test_the_page_offers_presets_as_csrf_protected_forms(app, liu_island, settings):
    client = app.test_client()
    csrf = login(client, LIU)
    page = client.get(f"/islands/{liu_island.island_id}").get_data(as_text=True)
    for name in settings.clock.presets:
        assert re.search(rf'<button type="submit" name="preset" value="{re.escape(name)}"', page), name
    forms = re.findall(r'<form method="post" action="[^"]*/clock"[^>]*>\s*<input type="hidden" name="csrf_token" '
                       r'value="([^"]+)"', page)
    assert forms and set(forms) == {csrf}
    assert 'id="clock-freeze"' in page and 'id="clock-speed10"' in page and 'id="timeline-form"' in page
    page_zh = client.get(f"/islands/{liu_island.island_id}?lang=zh").get_data(as_text=True)
    assert "冻结" in page_zh and "时间线" in page_zh and "时间修改记录" in page_zh
    # without the CSRF field the form post is refused, and nothing reaches the cluster
    r = client.post(f"/islands/{liu_island.island_id}/clock", data={"preset": "daily-reset"})
    assert r.status_code == 403
    # the API with the page's cookie needs the header too
    r = client.post(f"/api/islands/{liu_island.island_id}/clock", json={"preset": "daily-reset"})
    assert r.status_code == 403


def test_a_form_post_by_someone_else_comes_back_with_the_refusal(app, liu_island):
    client = app.test_client()
    csrf = login(client, BOB)
    r = client.post(f"/islands/{liu_island.island_id}/clock", data={"preset": "daily-reset", "csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/islands/{liu_island.island_id}#clock-panel")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "刘电波" in page and "only its owner" in page
    r = client.post(f"/islands/{liu_island.island_id}/clock", data={"speed": "$(id)", "csrf_token": csrf})
    assert r.status_code == 302
    assert "not a number" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_the_islands_table_gets_a_compact_clock_column(client, liu_island):
    island = body(client.get(f"/api/islands/{liu_island.island_id}", headers=bearer(LIU)))
    assert island["clock"]["badge"] == ""


# -- on the whole product: what the island's own server reads --------------------------------------------
def island_reads(island: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(ask_time(island["host_ip"], island["ports"][2])["now"])


@pytest.mark.slow
def test_presets_freeze_speed_reset_and_a_timeline_as_the_island_reads_them(island_env):
    settings = web_settings(island_env.settings)
    app = create_app(settings, service=island_env.service)
    try:
        client = app.test_client()
        r = client.post("/api/islands", json={"branch": "dev"}, headers=bearer(LIU))
        assert r.status_code == 201, body(r)
        island_id = body(r)["id"]
        island_env.wait_state(island_id, ("ready", "failed", "timeout"), timeout=90)
        island = body(client.get(f"/api/islands/{island_id}", headers=bearer(LIU)))
        assert island["state"] == "ready", island
        url = f"/api/islands/{island_id}/clock"
        cache = island_env.settings.islands.faketime_cache_duration

        def past_cache():
            changed_at = time.monotonic()
            # libfaketime compares whole seconds: the server re-reads within the cache duration + 1 s
            wait_for(lambda: time.monotonic() > changed_at + cache + 1.2, cache + 5, "the cache duration to pass")

        # a preset: the island reads 04:59:50 of the next day (UTC), proven by its own reading
        assert client.post(url, json={"preset": "daily-reset"}, headers=bearer(BOB)).status_code == 403
        r = client.post(url, json={"preset": "daily-reset"}, headers=bearer(LIU))
        changed = body(r)
        assert r.status_code == 200, changed
        clock = changed["clock"]
        assert changed["id"] == island_id and clock["setting"] == "preset daily-reset"
        assert clock["proof_line"].startswith("reads ") and "04:59:5" in clock["proof_line"], clock["proof_line"]
        assert abs(clock["proof"]["diff"]) < 1.5
        # the running server re-reads its clock file within the cache duration + 1 s (libfaketime)
        wait_for(lambda: (island_reads(island).hour, island_reads(island).minute) in ((4, 59), (5, 0)), cache + 3,
                 "the island's server to read 04:59:5x")

        # freeze: two readings a second apart read the same second; the table says "frozen"
        assert body(client.post(url, json={"action": "freeze"}, headers=bearer(LIU)))["clock"]["frozen"] is True
        past_cache()  # the server itself re-reads the clock file once per faketime_cache_duration
        first, started, seen = island_reads(island), time.monotonic(), []
        wait_for(lambda: seen.append(island_reads(island)) or time.monotonic() - started > 1.5, 5,
                 "readings over 1.5 s")
        assert all(abs((s - first).total_seconds()) < 0.5 for s in seen), (first, sorted(set(seen)))
        assert body(client.get(f"/api/islands/{island_id}", headers=bearer(LIU)))["clock"]["badge"] == "frozen"

        # speed x10 while frozen stays frozen (libfaketime: a freeze is a plain date); resume runs
        # the clock at the speed that stuck: ten seconds per real second
        r = client.post(url, json={"speed": 10}, headers=bearer(LIU))
        assert r.status_code == 200 and body(r)["clock"]["rate"] == 10 and body(r)["clock"]["frozen"] is True
        r = client.post(url, json={"action": "resume"}, headers=bearer(LIU))
        assert r.status_code == 200 and body(r)["clock"]["frozen"] is False and body(r)["clock"]["badge"] == "x10"
        assert body(client.get(f"/api/islands/{island_id}", headers=bearer(LIU)))["clock"]["badge"] in ("", "x10")
        past_cache()
        a_real, a = dt.datetime.now(), island_reads(island)
        wait_for(lambda: (dt.datetime.now() - a_real).total_seconds() > 1.5, 5, "1.5 s to pass")
        b_real, b = dt.datetime.now(), island_reads(island)
        ratio = (b - a).total_seconds() / (b_real - a_real).total_seconds()
        assert 7 < ratio < 13, ratio

        # reset: real time again
        assert client.post(url, json={"action": "reset"}, headers=bearer(ADMIN)).status_code == 200
        wait_for(lambda: abs((island_reads(island) - dt.datetime.now()).total_seconds()) < 3, cache + 3,
                 "the island to read real time again")

        # the history says who, newest first
        history = body(client.get(f"{url}/history", headers=bearer(BOB)))["history"]
        assert [h["text"] for h in history[:5]] == ["reset", "resume", "speed x10", "freeze", "preset daily-reset"]
        assert "刘电波" in history[1]["who"] and "admin" in history[0]["who"]
        assert all(h["ok"] for h in history[:5])

        # a timeline: the weekly reset now, real time 3 s later, as the island reads it
        r = client.post(f"{url}/timelines", json={"steps": "at +0 preset weekly-reset; at +3s reset"},
                        headers=bearer(LIU))
        assert r.status_code == 201, body(r)
        timeline = body(r)
        wait_for(lambda: island_reads(island).weekday() == 0 and island_reads(island).hour == 4, 5,
                 "the island to read Monday 04:59:5x")
        wait_for(lambda: abs((island_reads(island) - dt.datetime.now()).total_seconds()) < 3, 15,
                 "the timeline's reset step")
        wait_for(lambda: [t for t in body(client.get(f"{url}/timelines", headers=bearer(LIU)))["timelines"]
                          if t["id"] == timeline["id"]][0]["state"] == "done", 10, "the timeline to be done")

        # the page's preset button without any script: a plain form post with the CSRF field
        browser = app.test_client()
        csrf = login(browser, LIU)
        r = browser.post(f"/islands/{island_id}/clock", data={"preset": "daily-reset", "csrf_token": csrf})
        assert r.status_code == 302
        page = browser.get(r.headers["Location"]).get_data(as_text=True)
        assert "Done" in page and "reads " in page  # the flash, and the proof line rendered server-side
        wait_for(lambda: (island_reads(island).hour, island_reads(island).minute) in ((4, 59), (5, 0)),
                 cache + 3, "the island's server to read 04:59:5x (libfaketime: within cache duration + 1 s)")
    finally:
        app.extensions["island_ssh.service.feed"].close()
        island_env.cleanup()
