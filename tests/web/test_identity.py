"""Identity (issue 11, hole 7): ownership and admin rights follow the user id, never the display name.

Through the real app over MariaDB, with the embedding hook a host app supplies. Two people called
王伟 (ids u-1001 and u-1002) must not reach each other's islands; someone who calls themselves
"admin" is not the admin whose id is "admin". The refusals never reach the cluster.
"""

from __future__ import annotations

import json

import pytest
from flask import request

from island_ssh.core.identity import User
from island_ssh.core.tokens import hash_token
from island_ssh_web import create_app
from web_support import service_without_cluster, wait_for, web_settings

USERS = {
    "wang-1": User("u-1001", "王伟"),
    "wang-2": User("u-1002", "王伟"),  # a namesake
    "fake-admin": User("u-1003", "admin"),  # the admin's id as a display name
    "boss": User("admin", "Boss"),  # the admin: web.admins lists this id
    "host-admin": User("u-1004", "Ops", is_admin=True),  # the host app says so
}


@pytest.fixture(scope="module")
def service(db_settings, store):
    # no capacity check: the fake cluster has no nodes, and launches here only record who asked
    settings = web_settings(db_settings=db_settings, admins=["admin"]).replace(islands={"capacity_check": False})
    return service_without_cluster(settings, store)


@pytest.fixture(scope="module")
def app(service):
    return create_app(service.settings, service=service,
                      current_user=lambda: USERS.get(request.headers.get("X-Test-User", "")))


@pytest.fixture()
def wang_island(service):
    row = service.store.allocate("王伟", "dev", lambda i: f"altraserver-wangwei-dev-{i}", {},
                                 hash_token("island-token-" + "w" * 20), service.settings.islands, owner_id="u-1001")
    yield row
    service.store.release(row.island_id, row.generation, "TestDone")


class As:
    """A browser session of one hook user: the cookie and the CSRF token the hook path needs."""

    def __init__(self, app, who: str) -> None:
        self.client, self.headers = app.test_client(), {"X-Test-User": who}
        me = self.client.get("/api/me", headers=self.headers)
        assert me.status_code == 200, me.get_data(as_text=True)
        self.me = me.get_json()
        self.headers["X-CSRF-Token"] = self.me["csrf_token"]

    def call(self, method: str, path: str, payload=None):
        return self.client.open(path, method=method, headers=self.headers, json=payload)


ACTIONS = [("DELETE", "", None), ("POST", "/restart", None), ("POST", "/clock", {"clock": "+1h"}),
           ("GET", "/logs", None)]


@pytest.mark.parametrize("method, suffix, payload", ACTIONS, ids=["delete", "restart", "clock", "logs"])
def test_a_namesake_may_not_touch_or_read_anothers_island(app, service, wang_island, method, suffix, payload):
    before = len(service.kubectl.calls)
    r = As(app, "wang-2").call(method, f"/api/islands/{wang_island.island_id}{suffix}", payload)
    assert r.status_code == 403, r.get_data(as_text=True)
    assert r.get_json()["error"] == "PermissionDenied"
    assert len(service.kubectl.calls) == before, "a namesake's request reached the cluster"
    assert service.get(wang_island.island_id).state == "allocated"


def test_the_owner_passes_the_check(app, service, wang_island):
    r = As(app, "wang-1").call("POST", f"/api/islands/{wang_island.island_id}/clock", {"clock": "+1h"})
    assert r.status_code == 400 and "once its server runs" in r.get_json()["message"]  # past the owner check


def test_the_island_json_names_the_owner_and_its_id_and_can_change_follows_the_id(app, wang_island):
    path = f"/api/islands/{wang_island.island_id}"
    mine = As(app, "wang-1").call("GET", path).get_json()
    theirs = As(app, "wang-2").call("GET", path).get_json()
    assert (mine["owner"], mine["owner_id"], mine["can_change"]) == ("王伟", "u-1001", True)
    assert (theirs["owner"], theirs["owner_id"], theirs["can_change"]) == ("王伟", "u-1001", False)


def test_mine_filters_by_id_not_by_name(app, wang_island):
    def mine(who):
        data = As(app, who).call("GET", "/api/islands?mine=true").get_json()
        return {i["id"] for i in data["islands"]}, data["user_id"]
    assert mine("wang-1") == ({wang_island.island_id}, "u-1001")
    assert mine("wang-2") == (set(), "u-1002")
    owned = As(app, "wang-2").call("GET", "/api/islands?owner_id=u-1001").get_json()["islands"]
    assert [i["id"] for i in owned] == [wang_island.island_id]


def test_a_display_name_equal_to_an_admin_id_grants_nothing(app, service, wang_island):
    fake = As(app, "fake-admin")
    assert (fake.me["user"], fake.me["user_id"], fake.me["admin"]) == ("admin", "u-1003", False)
    r = fake.call("DELETE", f"/api/islands/{wang_island.island_id}")
    assert r.status_code == 403 and r.get_json()["error"] == "PermissionDenied"
    assert fake.call("GET", f"/api/islands/{wang_island.island_id}").get_json()["can_change"] is False


@pytest.mark.parametrize("who", ["boss", "host-admin"])
def test_admins_are_ids_in_web_admins_or_users_the_host_calls_admin(app, wang_island, who):
    admin = As(app, who)
    assert admin.me["admin"] is True
    assert admin.call("GET", f"/api/islands/{wang_island.island_id}").get_json()["can_change"] is True
    r = admin.call("POST", f"/api/islands/{wang_island.island_id}/clock", {"clock": "+1h"})
    assert r.status_code == 400 and "once its server runs" in r.get_json()["message"]


@pytest.mark.parametrize("payload", [{"owner_id": "u-1001"}, {"owner": "王伟", "owner_id": "u-1001"}])
def test_only_admins_launch_under_another_id(app, service, payload):
    before = len(service.kubectl.calls)
    r = As(app, "wang-2").call("POST", "/api/islands", payload)
    assert r.status_code == 403 and r.get_json()["error"] == "PermissionDenied"
    assert len(service.kubectl.calls) == before


def test_the_session_cookie_cannot_claim_another_id(app, wang_island):
    """The hook is asked on every request: a session that began as one user carries nothing over."""
    wang = As(app, "wang-1")
    wang.headers["X-Test-User"] = "wang-2"
    r = wang.call("DELETE", f"/api/islands/{wang_island.island_id}")
    assert r.status_code == 403
    assert json.loads(r.get_data(as_text=True))["error"] == "PermissionDenied"


def test_a_launch_records_the_launchers_id(app, service):
    r = As(app, "wang-2").call("POST", "/api/islands", {"branch": "dev"})
    assert r.status_code == 201, r.get_data(as_text=True)
    island = r.get_json()
    try:
        assert (island["owner"], island["owner_id"], island["can_change"]) == ("王伟", "u-1002", True)
        assert service.store.get(island["id"]).owner_id == "u-1002"
        wait_for(lambda: "apply" in service.kubectl.verbs, timeout=30, what="the background apply")
        (applied,) = [d for c in service.kubectl.calls if c.verb == "apply" for d in c.args[0]
                      if d.get("kind", "Pod") == "Pod" and d["metadata"]["name"] == island["name"]]
        # on the pod too, so recover's adoption of a pod whose row was lost keeps whose it is
        assert applied["metadata"]["annotations"]["island-ssh/owner-id"] == "u-1002"
    finally:
        wait_for(lambda: "apply" in service.kubectl.verbs, timeout=30, what="the background apply")
        service.store.release(island["id"], island["generation"], "TestDone")
