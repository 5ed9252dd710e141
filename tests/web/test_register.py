"""The container's registration call: token checked, row written idempotently, event recorded."""

from __future__ import annotations

import pytest

from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.core.tokens import hash_token
from island_ssh.service.islands import IslandService
from island_ssh.testing.fakes import FakeKubectl
from island_ssh_web import create_app


@pytest.fixture()
def app_and_island(store, db_settings):
    settings = load_settings(DEFAULT_CONFIG, environ={}).replace(
        database={"name": db_settings.name, "host": db_settings.host, "port": db_settings.port})
    service = IslandService(settings, store, FakeKubectl())
    token = "tok-" + "x" * 30
    row = store.allocate("刘电波", "dev", lambda i: f"altraserver-liudianbo-dev-{i}", {}, hash_token(token),
                         settings.islands)
    app = create_app(settings, service=service)
    yield app.test_client(), row, token
    store.release(row.island_id, row.generation, "TestDone")
    assert service.kubectl.calls == [], "registration reached the cluster"


def post(client, island_id, token=None, **form):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(f"/api/islands/{island_id}/register", data=form, headers=headers)


def test_registration_with_the_island_token_writes_the_row(app_and_island, store):
    client, row, token = app_and_island
    r = post(client, row.island_id, token, node_ip="127.0.0.11", ports="30807 30808 30809", pod_name=row.pod_name)
    assert r.status_code == 200, r.get_json()
    reg = store.registration(row.island_id)
    assert reg.node_ip == "127.0.0.11"
    again = post(client, row.island_id, token, node_ip="127.0.0.12", ports="30807 30808 30809", pod_name=row.pod_name)
    assert again.status_code == 200
    assert store.registration(row.island_id).node_ip == "127.0.0.12"
    assert [e.reason for e in store.events(row.island_id)].count("Registered") >= 1


@pytest.mark.parametrize("token", [None, "", "wrong", "tok-" + "y" * 30])
def test_registration_without_the_right_token_is_forbidden(app_and_island, store, token):
    client, row, _ = app_and_island
    r = post(client, row.island_id, token, node_ip="127.0.0.11", ports="1 2 3", pod_name=row.pod_name)
    assert r.status_code == 403
    body = r.get_json()
    assert body["error"] == "PermissionDenied" and "tok-" not in str(body)
    assert store.registration(row.island_id) is None


def test_registration_of_an_unknown_island_is_404(app_and_island):
    client, _, token = app_and_island
    r = post(client, 998, token, node_ip="127.0.0.11", ports="1 2 3", pod_name="x")
    assert r.status_code == 404 and r.get_json()["error"] == "IslandNotFound"


@pytest.mark.parametrize("value", ["$(reboot)", "a'b\"c", "x\ny", "k: [v", "刘电波", "x" * 300])
def test_hostile_registration_fields_are_refused_cleanly(app_and_island, store, value):
    client, row, token = app_and_island
    r = post(client, row.island_id, token, node_ip=value, ports="30807 30808 30809", pod_name=row.pod_name)
    assert r.status_code == 400
    assert "Traceback" not in r.get_data(as_text=True)
    assert store.registration(row.island_id) is None
