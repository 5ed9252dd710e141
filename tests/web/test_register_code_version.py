"""The registration's ``code_version`` field over HTTP: stored for the island, hostile values 400 in one
line after the token check, and the island's ``code_version`` object in GET /api/islands/<id>."""

from __future__ import annotations

import pytest

from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.core.tokens import hash_token
from island_ssh.service.islands import IslandService
from island_ssh.testing.fakes import FakeKubectl
from island_ssh_web import create_app

API_TOKEN = "codev-web-token-0123456789abcdef0123456"


@pytest.fixture()
def app_and_island(store, db_settings):
    settings = load_settings(DEFAULT_CONFIG, environ={}).replace(
        database={"name": db_settings.name, "host": db_settings.host, "port": db_settings.port},
        web={"users": {API_TOKEN: "tester"}, "secret_key": "codev-web-secret-0123456789abcdef"})
    service = IslandService(settings, store, FakeKubectl())
    token = "tok-" + "c" * 30
    row = store.allocate("刘电波", "dev", lambda i: f"altraserver-liudianbo-dev-{i}", {}, hash_token(token),
                         settings.islands)
    app = create_app(settings, service=service)
    yield app.test_client(), row, token
    store.release(row.island_id, row.generation, "TestDone")


def post(client, row, token, **extra):
    return client.post(f"/api/islands/{row.island_id}/register", headers={"Authorization": f"Bearer {token}"},
                       data={"node_ip": "127.0.0.11", "ports": " ".join(map(str, row.ports)),
                             "pod_name": row.pod_name, **extra})


def test_the_version_is_stored_and_shown_by_the_api(app_and_island, store):
    client, row, token = app_and_island
    assert post(client, row, token, code_version="abc123").status_code == 200
    assert store.get(row.island_id).code_version == "abc123"
    body = client.get(f"/api/islands/{row.island_id}", headers={"Authorization": f"Bearer {API_TOKEN}"}).get_json()
    v = body["code_version"]
    assert (v["version"], v["state"], v["outdated"]) == ("abc123", "ok", False) and v["at"]


@pytest.mark.parametrize("bad", ["$(id)", "a\nb", "刘电波", "x" * 129, "it's", "x" * 300])
def test_a_hostile_version_is_400_in_one_line_and_nothing_registers(app_and_island, store, bad):
    client, row, token = app_and_island
    r = post(client, row, token, code_version=bad)
    assert r.status_code == 400 and "code_version" in r.get_json()["message"]
    assert "\n" not in r.get_json()["message"]
    assert store.registration(row.island_id) is None


def test_a_wrong_token_is_403_whatever_the_version(app_and_island):
    client, row, _ = app_and_island
    assert post(client, row, "tok-" + "w" * 30, code_version="$(id)").status_code == 403
