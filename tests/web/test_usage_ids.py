"""GET /api/usage?ids= and GET /api/branches?ids= (the islands page asks for the rows it shows): only
those islands, absent and deleted ids left out, the answer without ids as before, every bad list one
400 line before any read. Over a real Store; the cluster is a FakeKubectl whose shell answers the
metrics poll and the code-version read, so the counts of those calls are real."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from island_ssh.core.names import MAX_ID
from island_ssh.core.tokens import hash_token
from island_ssh.testing.fakes import result
from island_ssh_web import create_app
from web_support import LIU, bearer, service_without_cluster, web_settings

MI = 2**20


@pytest.fixture(scope="module")
def settings(db_settings):
    return web_settings(db_settings=db_settings)


@pytest.fixture(scope="module")
def islands(store, settings):
    """name -> row: two running (ready, starting), one failed, one pending, one deleted."""
    rows = {}
    for name, branch in (("ready", "dev"), ("starting", "dev"), ("failed", "weekly"), ("pending", "weekly"),
                         ("deleted", "dev")):
        token = f"ids-island-token-{name}-0123456789abcdef"
        row = store.allocate("刘电波", branch, lambda i, b=branch: f"altraserver-ids-{b}-{i}", {}, hash_token(token),
                             settings.islands, owner_id="刘电波")
        if name == "pending":
            store.transition(row.island_id, row.generation, "applying", "Applying", "")
            store.transition(row.island_id, row.generation, "pending", "Pending", "")
        else:
            store.transition(row.island_id, row.generation, "starting", "Started", "", node="node-1",
                             host_ip="10.2.0.1")
        if name in ("ready", "deleted"):
            store.register(row.island_id, token, "10.2.0.1", ",".join(map(str, row.ports)), row.pod_name,
                           code_version="abc123")
            store.transition(row.island_id, row.generation, "ready", "Ready", "")
        elif name == "failed":
            store.transition(row.island_id, row.generation, "failed", "Crashed", "")
        rows[name] = row
    assert store.release(rows["deleted"].island_id, rows["deleted"].generation, "TestDeleted")
    return {name: store.get(row.island_id) for name, row in rows.items()}


@pytest.fixture(scope="module")
def app(settings, store, islands):
    service = service_without_cluster(settings, store)
    pods = [islands[n] for n in ("ready", "starting")]
    doc = {"kind": "PodMetricsList", "items": [
        {"metadata": {"name": r.pod_name}, "timestamp": "2026-12-03T12:00:00Z", "window": "15s",
         "containers": [{"name": "altraserver", "usage": {"cpu": "5m", "memory": f"{100 + i}Mi"}}]}
        for i, r in enumerate(pods)]}
    service.kubectl.shell.on("metrics.k8s.io", result(json.dumps(doc)))
    service.kubectl.shell.on("ISLAND_CODEV", result(""))  # the branches' read: no version file anywhere
    app = create_app(settings, service=service)
    app.config["service"] = service
    yield app
    app.extensions["island_ssh.service.feed"].close()


@pytest.fixture()
def client(app):
    return app.test_client()


def get(client, path: str):
    r = client.get(path, headers=bearer(LIU))
    text = r.get_data(as_text=True)
    assert "Traceback" not in text
    return r.status_code, json.loads(text)


def ids_of(body) -> list[int]:
    return [i["id"] for i in body["islands"]]


def test_usage_answers_only_the_asked_islands_that_exist(client, islands):
    ready, starting, failed = (islands[n].island_id for n in ("ready", "starting", "failed"))
    deleted = islands["deleted"].island_id
    status, body = get(client, f"/api/usage?ids={failed},{deleted},{ready},99999,{ready}")
    assert status == 200, body
    assert ids_of(body) == [ready, failed]  # id order, once each; the deleted and the absent left out
    by_id = {u["id"]: u for u in body["islands"]}
    assert by_id[ready]["available"] and by_id[ready]["memory"] == "100Mi"
    assert not by_id[failed]["available"] and by_id[failed]["reason"].startswith("the server is not running")
    assert body["available"] is True and body["warnings"] == []
    status, only = get(client, f"/api/usage?ids={starting}&ids={deleted}")  # repeated: one list
    assert status == 200 and ids_of(only) == [starting] and only["islands"][0]["memory"] == "101Mi"
    status, none = get(client, f"/api/usage?ids={deleted},0,{MAX_ID}")
    assert status == 200 and none["islands"] == [] and none["warnings"] == [] and none["available"] is True


def test_without_ids_every_live_island_as_before_and_the_same_items(client, islands):
    status, everything = get(client, "/api/usage")
    assert status == 200
    live = sorted(r.island_id for n, r in islands.items() if n != "deleted")
    assert ids_of(everything) == live
    status, some = get(client, "/api/usage?ids=" + ",".join(map(str, live[:2])))
    assert some["islands"] == everything["islands"][:2]
    assert set(some) == set(everything)


def test_branches_filters_the_islands_and_keeps_every_branch(client, islands):
    ready, pending, deleted = (islands[n].island_id for n in ("ready", "pending", "deleted"))
    status, everything = get(client, "/api/branches")
    assert status == 200
    assert ids_of(everything) == sorted(r.island_id for n, r in islands.items() if n != "deleted")
    status, some = get(client, f"/api/branches?ids={pending},{deleted},{ready}")
    assert status == 200 and ids_of(some) == [ready, pending]
    assert some["branches"] == get(client, "/api/branches")[1]["branches"]  # whole: it is a few lines
    by_id = {i["id"]: i for i in everything["islands"]}
    assert some["islands"] == [by_id[ready], by_id[pending]]
    assert some["outdated"] == sum(i["code_version"]["outdated"] for i in some["islands"])
    assert get(client, "/api/branches?ids=99999")[1]["islands"] == []


def island_reads(store, monkeypatch) -> list[str]:
    """Record the store's reads of islands for an answer: "list" (every island) and "get_many" (by
    id). The code versions' background read lists the ready islands to read through (states=...):
    that is not the answer's read, and it may run at any moment, so it is not recorded."""
    reads = []
    for name in ("list", "get_many"):
        real = getattr(store, name)

        def recorded(*a, _real=real, _name=name, **k):
            if k.get("states") is None:
                reads.append(_name)
            return _real(*a, **k)
        monkeypatch.setattr(store, name, recorded)
    return reads


def test_with_ids_the_table_is_not_read_whole(app, client, islands, monkeypatch):
    reads = island_reads(app.config["service"].store, monkeypatch)
    ready = islands["ready"].island_id
    assert ids_of(get(client, f"/api/usage?ids={ready}")[1]) == [ready]
    assert ids_of(get(client, f"/api/branches?ids={ready}")[1]) == [ready]
    assert reads == ["get_many", "get_many"]  # by id (one query), not the whole table and then dropped
    get(client, "/api/usage")
    assert reads[2:] == ["list"]


BAD = [
    ("abc", "'abc' is not an island id"), ("-3", "'-3' is not an island id"), ("3,,5", "an empty item"),
    (",3", "an empty item"), ("3,", "an empty item"), ("", "ids is empty"),
    (",".join(["1"] * 1001), "1001 ids; at most 1000"), ("３", "'３' is not an island id"),
    ("$(id)", "'$(id)' is not an island id"), ("9" * 400, "is not an island id"),
    (str(MAX_ID + 1), f"'{MAX_ID + 1}' is not an island id"), ("+3", "'+3' is not an island id"),
    (" 3", "' 3' is not an island id"), ("3.0", "'3.0' is not an island id"), ("0x1f", "is not an island id"),
    ("1e3", "is not an island id"), ("3;5", "is not an island id"),
]


@pytest.mark.parametrize("path", ["/api/usage", "/api/branches"])
@pytest.mark.parametrize("raw, says", BAD, ids=[b[0][:12] or "empty" for b in BAD])
def test_a_bad_list_is_one_400_line_before_any_read(app, client, path, raw, says, monkeypatch):
    service = app.config["service"]
    reads = island_reads(service.store, monkeypatch)
    service.usage.expire()  # a refusal that came late would poll the metrics again
    polls = service.usage.polls
    status, body = get(client, f"{path}?ids={quote(raw, safe=',')}")
    assert status == 400, body
    assert set(body) == {"error", "message"} and body["error"] == "InvalidInput"
    message = body["message"]
    assert message.startswith("ids") and says in message and "\n" not in message and len(message) < 200, message
    assert "9" * 50 not in message  # a huge value is not echoed whole
    assert service.usage.polls == polls and reads == []


def test_the_spec_documents_ids_and_the_400(client):
    spec = get(client, "/api/openapi.json")[1]
    for path in ("/api/usage", "/api/branches"):
        op = spec["paths"][path]["get"]
        names = [p["name"] for p in op["parameters"]]
        assert "ids" in names and "400" in op["responses"], path


def test_ids_need_a_user(client):
    r = client.get("/api/usage?ids=$(id)")
    assert r.status_code == 401  # who asks is checked first: a stranger learns nothing of the parameter
