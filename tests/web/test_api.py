"""The JSON API through Flask's test client over a real Store: auth, permissions, hostile input, errors.

Endpoints that need the cluster to succeed (launch, logs, clock on a running island) are covered
in test_cluster_api.py; here they are driven only as far as the refusal, which never reaches kubectl.
"""

from __future__ import annotations

import json
import re

import pytest

from island_ssh_web import create_app
from web_support import ADMIN, BOB, LIU, TOKENS, allocate, bearer, login, service_without_cluster, web_settings

HOSTILE = ["$(reboot)", "`id`", "a'b\"c", "x\ny", "k: [v", "{{ 7*7 }}", "刘电波", "x" * 5000, "\x00", "\ud800"]


@pytest.fixture(scope="module")
def settings(db_settings):
    return web_settings(db_settings=db_settings)


@pytest.fixture(scope="module")
def app(settings, store):
    service = service_without_cluster(settings, store)
    yield create_app(settings, service=service)
    assert service.kubectl.calls == [], "a refusal reached the cluster"


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def liu_island(store, settings):
    row = allocate(store, settings, "刘电波", "dev")
    yield row
    store.release(row.island_id, row.generation, "TestDone")


@pytest.fixture(scope="module")
def bob_island(store, settings):
    row = allocate(store, settings, "bob", "weekly")
    yield row
    store.release(row.island_id, row.generation, "TestDone")


def body(response) -> dict:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "File \"" not in text
    return json.loads(text)


# -- who may ask -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/islands", "/api/islands/1", "/api/islands/1/events", "/api/islands/1/logs",
                                  "/api/me", "/api/events"])
def test_reads_need_a_user(client, path):
    r = client.get(path)
    assert r.status_code == 401
    assert body(r)["error"] == "Unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_refused_without_echoing_it(client):
    r = client.get("/api/islands", headers=bearer("tok-made-up-$(reboot)"))
    assert r.status_code == 401
    assert "tok-made-up" not in r.get_data(as_text=True)


def test_list_shows_chinese_owner_names_as_utf8(client, liu_island, bob_island):
    r = client.get("/api/islands", headers=bearer(BOB))
    assert r.status_code == 200
    assert "刘电波".encode() in r.data  # not \u escapes
    data = body(r)
    owners = {i["id"]: i["owner"] for i in data["islands"]}
    assert owners[liu_island.island_id] == "刘电波" and owners[bob_island.island_id] == "bob"
    assert isinstance(data["last_event_id"], int) and data["last_event_id"] > 0
    one = next(i for i in data["islands"] if i["id"] == liu_island.island_id)
    assert one["can_change"] is False  # bob looking at liu's island
    assert one["ports"] == list(liu_island.ports) and one["state"] == "allocated"
    assert "token_hash" not in json.dumps(data)


def test_filters_mine_branch_state(client, liu_island, bob_island):
    mine = body(client.get("/api/islands?mine=true", headers=bearer(LIU)))["islands"]
    assert {i["owner"] for i in mine} == {"刘电波"}
    weekly = body(client.get("/api/islands?branch=weekly", headers=bearer(LIU)))["islands"]
    assert [i["id"] for i in weekly] == [bob_island.island_id]
    allocated = body(client.get("/api/islands?state=allocated", headers=bearer(LIU)))["islands"]
    assert {liu_island.island_id, bob_island.island_id} <= {i["id"] for i in allocated}
    assert body(client.get("/api/islands?state=ready", headers=bearer(LIU)))["islands"] == []


@pytest.mark.parametrize("query", ["state=bogus", "mine=maybe", "mine=", "include_deleted=",
                                   "branch=" + "b" * 100, "state=$(reboot)"])
def test_bad_filters_are_400(client, query):
    r = client.get("/api/islands?" + query, headers=bearer(LIU))
    assert r.status_code == 400 and body(r)["error"] == "InvalidInput"


def test_deleted_islands_are_hidden_unless_asked(client, store, settings):
    row = allocate(store, settings, "bob")
    store.release(row.island_id, row.generation, "Gone")
    ids = [i["id"] for i in body(client.get("/api/islands", headers=bearer(BOB)))["islands"]]
    assert row.island_id not in ids
    with_deleted = body(client.get("/api/islands?include_deleted=1", headers=bearer(BOB)))["islands"]
    assert any(i["id"] == row.island_id and i["state"] == "deleted" for i in with_deleted)


def test_get_one_island_and_its_events(client, liu_island):
    r = client.get(f"/api/islands/{liu_island.island_id}", headers=bearer(LIU))
    assert body(r)["owner"] == "刘电波" and body(r)["can_change"] is True
    assert body(r)["registration"]["registered"] is False
    events = body(client.get(f"/api/islands/{liu_island.island_id}/events?limit=5", headers=bearer(LIU)))["events"]
    assert events and events[0]["to_state"] == "allocated"


@pytest.mark.parametrize("path", ["/api/islands/998", "/api/islands/99999999999999999999", "/api/islands/abc",
                                  "/api/islands/-1", "/api/islands/998/events"])
def test_unknown_islands_are_404_json(client, path):
    r = client.get(path, headers=bearer(LIU))
    assert r.status_code == 404 and body(r)["error"] in ("IslandNotFound", "NotFound")


@pytest.mark.parametrize("query", ["tail=0", "tail=abc", "tail=100000", "tail=", "container=",
                                   "container=$(reboot)", "container=other"])
def test_bad_log_queries_are_400(client, liu_island, query):
    r = client.get(f"/api/islands/{liu_island.island_id}/logs?{query}", headers=bearer(LIU))
    assert r.status_code == 400


@pytest.mark.parametrize("query", ["after=", "after=-1", "after=1e3", "after=$(reboot)", "after=" + "9" * 40])
def test_a_bad_event_stream_position_is_400_before_any_stream_opens(client, query):
    r = client.get("/api/events?" + query, headers=bearer(LIU))
    assert r.status_code == 400 and body(r)["error"] == "InvalidInput"
    assert r.mimetype == "application/json"


# -- who may change what ---------------------------------------------------------------------------
@pytest.mark.parametrize("method,suffix,payload", [
    ("DELETE", "", None), ("POST", "/restart", None), ("POST", "/clock", {"clock": "+2d"})])
def test_only_the_owner_or_an_admin_may_change_an_island(client, liu_island, method, suffix, payload):
    r = client.open(f"/api/islands/{liu_island.island_id}{suffix}", method=method, json=payload, headers=bearer(BOB))
    assert r.status_code == 403
    assert body(r)["error"] == "PermissionDenied" and "刘电波" in body(r)["message"]


def test_clock_on_an_island_that_is_not_running_says_why(client, liu_island):
    for token in (LIU, ADMIN):  # the owner and an admin get past the permission check
        r = client.post(f"/api/islands/{liu_island.island_id}/clock", json={"clock": "+2d"}, headers=bearer(token))
        assert r.status_code == 400 and "once its server runs" in body(r)["message"]


@pytest.mark.parametrize("payload,status", [
    ({}, 400), ({"clock": 5}, 400), ({"clock": None}, 400), ([], 400), ("reset", 400)])
def test_clock_bodies_of_the_wrong_shape_are_400(client, liu_island, payload, status):
    r = client.post(f"/api/islands/{liu_island.island_id}/clock", json=payload, headers=bearer(LIU))
    assert r.status_code == status


def test_clock_needs_json(client, liu_island):
    r = client.post(f"/api/islands/{liu_island.island_id}/clock", data={"clock": "+2d"}, headers=bearer(LIU))
    assert r.status_code == 415 and body(r)["error"] == "UnsupportedMediaType"


def test_malformed_json_is_400(client, liu_island):
    r = client.post("/api/islands", data="{not json", content_type="application/json", headers=bearer(LIU))
    assert r.status_code == 400


def test_a_huge_body_is_413(client):
    r = client.post("/api/islands", data=json.dumps({"image": "x" * (2 * 1024 * 1024)}),
                    content_type="application/json", headers=bearer(LIU))
    assert r.status_code == 413 and body(r)["error"] == "RequestTooLarge"


# -- launch refusals (validation happens before anything reaches the cluster) --------------------------
@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["branch", "start_time", "memory", "image"])
def test_hostile_launch_fields_are_refused_with_the_field_named(client, field, value):
    if field == "start_time" and value == "":
        pytest.skip("empty start time means real time")
    r = client.post("/api/islands", data=json.dumps({field: value}), content_type="application/json",
                    headers=bearer(LIU))  # json.dumps escapes a lone surrogate as \\ud800, as a browser would
    assert r.status_code == 400, r.get_data(as_text=True)
    message = body(r)["message"]
    assert field.replace("_", " ") in message or field in message
    assert "Traceback" not in message


@pytest.mark.parametrize("env", [{"LD_PRELOAD": "/evil.so"}, {"ISLAND_TOKEN": "x"}, {"bad name": "x"},
                                 {"A": 5}, ["A=1"], {"A": "x" * 5000}, {"$(reboot)": "1"}])
def test_bad_env_is_refused(client, env):
    r = client.post("/api/islands", json={"env": env}, headers=bearer(LIU))
    assert r.status_code == 400, r.get_data(as_text=True)


@pytest.mark.parametrize("payload", [{"branch": 5}, {"memory": 1500}, {"unknown": "x"}, {"owner": ["a"]}])
def test_wrong_types_and_unknown_fields_are_refused(client, payload):
    assert client.post("/api/islands", json=payload, headers=bearer(LIU)).status_code == 400


def test_only_admins_launch_for_someone_else(client):
    r = client.post("/api/islands", json={"owner": "bob"}, headers=bearer(LIU))
    assert r.status_code == 403 and "admins" in body(r)["message"]


def test_launch_needs_a_user(client):
    assert client.post("/api/islands", json={}).status_code == 401


# -- CSRF and the session login --------------------------------------------------------------------------
def test_cookie_changes_need_the_csrf_token(app, liu_island):
    client = app.test_client()
    csrf = login(client, LIU)
    url = f"/api/islands/{liu_island.island_id}/clock"
    refused = client.post(url, json={"clock": "+1h"})
    assert refused.status_code == 403 and body(refused)["error"] == "CSRFError"
    wrong = client.post(url, json={"clock": "+1h"}, headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403
    accepted = client.post(url, json={"clock": "+1h"}, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 400 and "once its server runs" in body(accepted)["message"]  # past auth


def test_form_posts_need_the_csrf_field(app, liu_island):
    client = app.test_client()
    csrf = login(client, LIU)
    assert client.post(f"/islands/{liu_island.island_id}/clock", data={"clock": "+1h"}).status_code == 403
    ok = client.post(f"/islands/{liu_island.island_id}/clock", data={"clock": "+1h", "csrf_token": csrf})
    assert ok.status_code == 302  # the refusal is flashed on the island page
    page = client.get(ok.headers["Location"]).get_data(as_text=True)
    assert "once its server runs" in page


def test_login_with_a_wrong_token_fails_and_leaks_nothing(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    from web_support import csrf_from
    r = client.post("/login", data={"token": "guess-$(id)", "csrf_token": csrf_from(page)})
    assert r.status_code == 401 and "guess-" not in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_csrf_is_refused(app):
    client = app.test_client()
    assert client.post("/login", data={"token": LIU}).status_code == 403


def test_pages_never_show_a_token(app, liu_island):
    client = app.test_client()
    login(client, LIU)
    for path in ["/", "/launch", f"/islands/{liu_island.island_id}", "/?lang=zh"]:
        html = client.get(path).get_data(as_text=True)
        assert not any(token in html for token in TOKENS), path
    cookie = client.get_cookie("island_ssh_session")
    assert cookie is not None and LIU not in cookie.value


def test_a_token_removed_from_the_config_logs_its_user_out(settings, store):
    service = service_without_cluster(settings, store)
    client = create_app(settings, service=service).test_client()
    login(client, LIU)
    assert client.get("/").status_code == 200
    fewer = settings.replace(web={"users": {BOB: "bob"}})
    other = create_app(fewer, service=service).test_client()
    other.set_cookie("island_ssh_session", client.get_cookie("island_ssh_session").value)
    assert other.get("/").status_code == 302


def test_logout(app):
    client = app.test_client()
    csrf = login(client, LIU)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/api/me").status_code == 401


def test_next_after_login_stays_on_this_site(app):
    client = app.test_client()
    from web_support import csrf_from
    page = client.get("/login?next=//evil.example/x").get_data(as_text=True)
    r = client.post("/login?next=//evil.example/x", data={"token": LIU, "csrf_token": csrf_from(page)})
    assert r.status_code == 302 and "evil" not in r.headers["Location"]


# -- pages and errors ---------------------------------------------------------------------------------
def test_pages_in_chinese_and_english(app, liu_island):
    client = app.test_client()
    login(client, BOB)
    zh = client.get("/?lang=zh")
    assert "启动岛" in zh.get_data(as_text=True) and 'lang="zh-CN"' in zh.get_data(as_text=True)
    assert "island_ssh_lang=zh" in zh.headers.get("Set-Cookie", "")
    assert "启动岛" in client.get("/").get_data(as_text=True)  # the cookie remembers
    en = client.get("/?lang=en").get_data(as_text=True)
    assert "Launch island" in en
    detail = client.get(f"/islands/{liu_island.island_id}").get_data(as_text=True)
    assert "刘电波" in detail
    assert client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).status_code == 200


def test_pages_send_a_strict_content_security_policy(app):
    client = app.test_client()
    login(client, BOB)
    r = client.get("/")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unknown_island_page_is_a_404_page(app):
    client = app.test_client()
    login(client, BOB)
    r = client.get("/islands/997")
    assert r.status_code == 404 and "text/html" in r.content_type and "no island 997" in r.get_data(as_text=True)


@pytest.mark.parametrize("method,path,status", [
    ("PUT", "/api/islands", 405), ("PATCH", "/api/islands/1", 405), ("GET", "/api/nothing", 404),
    ("GET", "/api/islands/1/restart", 405)])
def test_http_errors_are_json(client, method, path, status):
    r = client.open(path, method=method, headers=bearer(LIU))
    assert r.status_code == status
    assert set(body(r)) >= {"error", "message"}


def test_me(client):
    data = body(client.get("/api/me", headers=bearer(ADMIN)))
    assert data == {"user": "admin", "user_id": "admin", "admin": True, "via": "token"}


def test_static_assets_are_served_by_the_app(client):
    for name in ("island.css", "island_common.js", "island_table.js", "island_detail.js", "island_launch.js"):
        r = client.get(f"/static/island_ssh/{name}")
        assert r.status_code == 200 and len(r.data) > 500
        text = r.get_data(as_text=True)
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(\s*["']https?:""",
                             text), name  # nothing from a CDN: the studio network may be closed


def test_the_spec_lists_every_api_route(app):
    spec = body(app.test_client().get("/api/openapi.json"))
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops
                  if method != "parameters"}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/metrics":
            path = re.sub(r"<int:(\w+)>", r"{\1}", rule.rule)
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


# -- logs: whose, how much, and when the channels are busy -------------------------------------------
def test_logs_of_someone_elses_island_are_refused_before_kubectl(client, liu_island):
    r = client.get(f"/api/islands/{liu_island.island_id}/logs", headers=bearer(BOB))
    assert r.status_code == 403 and body(r)["error"] == "PermissionDenied"
    assert "logs" in body(r)["message"]


def logs_app(settings, store):
    service = service_without_cluster(settings, store)
    return service, create_app(settings, service=service).test_client()


def test_logs_are_cut_at_the_limit_and_say_so(settings, store, liu_island):
    service, client = logs_app(settings, store)
    service.kubectl.apply([{"kind": "Pod", "metadata": {"name": liu_island.pod_name}}])
    limit = settings.islands.log_limit_bytes
    service.kubectl.log_text[liu_island.pod_name] = "".join(f"{n:07d} {'日志' * 40}\n" for n in range(9000))
    data = body(client.get(f"/api/islands/{liu_island.island_id}/logs?tail=10000", headers=bearer(LIU)))
    assert len(data["logs"].encode()) <= limit and data["logs"].endswith("\n") and data["logs"].startswith("0000000 ")
    assert data["truncated"] is True and data["limit_bytes"] == limit and str(limit) in data["note"]
    assert service.kubectl.calls[-1].kwargs["limit_bytes"] == limit + 1  # the API server reads no more
    small = body(client.get(f"/api/islands/{liu_island.island_id}/logs?tail=3", headers=bearer(ADMIN)))
    assert small["logs"].startswith("0008997 ") and small["truncated"] is False and small["note"] == ""


def test_logs_answer_503_with_retry_after_when_every_read_channel_is_busy(settings, store, liu_island):
    from island_ssh.core.errors import ReadChannelsBusy
    service, client = logs_app(settings, store)
    service.kubectl.fail("logs", ReadChannelsBusy("all 1 SSH channel for reading logs is busy; try again"))
    r = client.get(f"/api/islands/{liu_island.island_id}/logs", headers=bearer(LIU))
    assert r.status_code == 503 and r.headers["Retry-After"] and body(r)["error"] == "ReadChannelsBusy"
    assert "try again" in body(r)["message"]
