"""Paging the islands list (issue 16) at a few hundred islands: GET /api/islands?limit=&offset= (first
page, next page, last page, total, filters, the registrations read in one go), the service's
list_page, and `island-ssh list --limit/--page --json`. The page's own pager in a real Chromium is
in test_islands_paging_browser.py."""

from __future__ import annotations

import json

import pytest

from island_ssh.core.tokens import hash_token
from island_ssh.service.listing import MAX_PAGE, list_page
from island_ssh_web import create_app
from service.recovery_helpers import island_ssh_cmd, write_config
from web_support import BOB, LIU, bearer, service_without_cluster, web_settings

ISLANDS = 300


@pytest.fixture(scope="module")
def settings(db_settings):
    return web_settings(db_settings=db_settings).replace(islands={"id_max": 999})


@pytest.fixture(scope="module")
def many(store, settings):
    """300 islands: every third bob's (the rest 刘电波's), dev and weekly alternating; every
    seventh deleted, every fifth failed, the rest ready, registered with their own token."""
    made, deleted = [], []
    for n in range(ISLANDS):
        owner = "bob" if n % 3 == 0 else "刘电波"
        branch = "dev" if n % 2 == 0 else "weekly"
        token = f"paging-island-token-{n:04d}-abcdefghij"
        row = store.allocate(owner, branch, lambda i, b=branch: f"altraserver-page-{b}-{i}", {}, hash_token(token),
                             settings.islands, owner_id=owner)
        ip = f"10.1.{n // 200}.{n % 200 + 1}"
        store.transition(row.island_id, row.generation, "starting", "Started", "", node="node-1", host_ip=ip)
        made.append(row.island_id)
        if n % 7 == 0:
            deleted.append(row)  # released once all are made: a freed id would be handed out again
        elif n % 5 == 0:
            store.transition(row.island_id, row.generation, "failed", "Crashed", "")
        else:
            store.register(row.island_id, token, ip, ",".join(map(str, row.ports)), row.pod_name)
            store.transition(row.island_id, row.generation, "ready", "Ready", "")
    for row in deleted:
        assert store.release(row.island_id, row.generation, "TestDeleted")
    rows = [store.get(i) for i in sorted(made)]
    assert len(rows) == ISLANDS and all(r is not None for r in rows)
    return rows


@pytest.fixture(scope="module")
def client(settings, store, many):
    app = create_app(settings, service=service_without_cluster(settings, store))
    yield app.test_client()
    app.extensions["island_ssh.service.feed"].close()


def ids(rows, **where) -> list[int]:
    """The ids the listing must give, oldest first: not deleted unless asked, then the filters."""
    deleted = where.pop("deleted", False)
    return [r.island_id for r in rows if (deleted or r.state != "deleted")
            and all(getattr(r, k) == v for k, v in where.items())]


def get(client, query: str, token: str = LIU) -> dict:
    response = client.get(f"/api/islands?{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def test_pages_walk_every_island_once_in_id_order_with_the_total(client, many):
    expected = ids(many)
    seen, offset, pages = [], 0, 0
    while offset is not None:
        body = get(client, f"limit=100&offset={offset}")
        assert body["total"] == len(expected) and body["limit"] == 100 and body["offset"] == offset
        assert len(body["islands"]) == min(100, len(expected) - offset)
        seen += [i["id"] for i in body["islands"]]
        offset, pages = body["next_offset"], pages + 1
    assert seen == expected and pages == -(-len(expected) // 100)
    assert get(client, "limit=100&offset=100")["islands"][0]["id"] == expected[100]
    beyond = get(client, f"limit=100&offset={len(expected) + 5}")
    assert beyond["islands"] == [] and beyond["total"] == len(expected) and beyond["next_offset"] is None


def test_unpaged_list_is_every_island_as_before(client, many):
    body = get(client, "")
    assert [i["id"] for i in body["islands"]] == ids(many)
    assert body["total"] == len(ids(many)) and body["limit"] is None and body["next_offset"] is None


@pytest.mark.parametrize("query, where", [
    ("mine=true", {"owner_id": "刘电波"}),
    ("branch=weekly", {"branch": "weekly"}),
    ("state=failed", {"state": "failed"}),
    ("include_deleted=true", {"deleted": True}),
    ("state=deleted", {"state": "deleted", "deleted": True}),
    ("mine=true&branch=dev&state=ready", {"owner_id": "刘电波", "branch": "dev", "state": "ready"}),
])
def test_filters_apply_before_paging_and_to_the_total(client, many, query, where):
    expected = ids(many, **where)
    assert len(expected) > 10
    first = get(client, f"{query}&limit=10")
    second = get(client, f"{query}&limit=10&offset=10")
    assert first["total"] == second["total"] == len(expected)
    assert [i["id"] for i in first["islands"] + second["islands"]] == expected[:20]
    assert first["next_offset"] == 10


def test_a_page_carries_each_islands_own_registration(client, store, many):
    body = get(client, "limit=50&offset=20&include_deleted=true")
    assert len(body["islands"]) == 50
    for island in body["islands"]:
        reg = store.registration(island["id"]) if island["state"] != "deleted" else None
        assert island["registration"]["registered"] == (reg is not None), island["id"]
        if reg is not None:
            assert island["registration"]["ports"] == list(reg.ports)
            assert island["registration"]["node_ip"] == reg.node_ip
    assert any(i["registration"]["registered"] for i in body["islands"])
    assert any(not i["registration"]["registered"] for i in body["islands"])


def test_can_change_is_per_caller_on_a_page(client, many):
    for island in get(client, "limit=60", token=BOB)["islands"]:
        assert island["can_change"] == (island["owner_id"] == "bob")


@pytest.mark.parametrize("query", ["limit=0", f"limit={MAX_PAGE + 1}", "limit=ten", "limit=", "offset=-1",
                                   "offset=1.5"])
def test_bad_paging_is_refused_naming_the_field(client, many, query):
    response = client.get(f"/api/islands?{query}", headers=bearer(LIU))
    assert response.status_code == 400
    assert query.split("=")[0] in response.get_json()["message"]


def test_service_list_page_reads_three_statements_whatever_the_page_size(store, many, monkeypatch):
    import pymysql.cursors
    seen = []
    execute = pymysql.cursors.Cursor.execute
    monkeypatch.setattr(pymysql.cursors.Cursor, "execute",
                        lambda self, q, a=None: (seen.append(q), execute(self, q, a))[1])
    small = list_page(store, limit=10)
    count_small, seen[:] = len(seen), []
    big = list_page(store, limit=MAX_PAGE, include_deleted=True)
    assert len(small.rows) == 10 and len(big.rows) == ISLANDS and big.total == ISLANDS
    assert count_small == len(seen) <= 3, seen  # a count, the rows, the page's registrations
    assert big.next_offset is None and small.next_offset == 10


def test_cli_list_pages_with_json(settings, many, tmp_path):
    config = write_config(settings, tmp_path / "config.yaml")
    expected = ids(many)
    result = island_ssh_cmd(config, "list", "--limit", "40", "--page", "2", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert [i["id"] for i in body["islands"]] == expected[40:80]
    assert (body["total"], body["page"], body["pages"], body["next_page"]) == (len(expected), 2,
                                                                                -(-len(expected) // 40), 3)
    dev = ids(many, branch="dev")
    pages = -(-len(dev) // 40)
    last = json.loads(island_ssh_cmd(config, "list", "--limit", "40", "--page", str(pages), "--json",
                                     "--branch", "dev").stdout)
    assert [i["id"] for i in last["islands"]] == dev[(pages - 1) * 40:] and last["next_page"] is None
    assert last["total"] == len(dev) and last["pages"] == pages
    table = island_ssh_cmd(config, "list", "--page", "1", "--owner-id", "bob")
    assert table.returncode == 0, table.stderr
    bob = ids(many, owner_id="bob")
    assert f"islands 1-{min(100, len(bob))} of {len(bob)} (page 1 of 1)" in table.stdout
    assert [int(line.split()[0]) for line in table.stdout.splitlines()[1:-1]] == bob[:100]
    # without --limit/--page: the JSON array of every island, as scripts read it before
    assert [i["id"] for i in json.loads(island_ssh_cmd(config, "list", "--json").stdout)] == expected
