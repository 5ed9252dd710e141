"""The container's registration call: token checked, row written idempotently, event recorded."""

from __future__ import annotations

import pytest

from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.core.settings import IslandSettings
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


def own_ports(row) -> str:
    return " ".join(map(str, row.ports))  # as the pod's ISLAND_PORTS says them


def test_registration_with_the_island_token_writes_the_row_once(app_and_island, store):
    client, row, token = app_and_island
    r = post(client, row.island_id, token, node_ip="127.0.0.11", ports=own_ports(row), pod_name=row.pod_name)
    assert r.status_code == 200, r.get_json()
    reg = store.registration(row.island_id)
    assert reg.node_ip == "127.0.0.11"
    events = store.events(row.island_id)
    # the same facts again (curl retried after a lost answer): the same answer, no new event
    again = post(client, row.island_id, token, node_ip="127.0.0.11", ports=own_ports(row), pod_name=row.pod_name)
    assert (again.status_code, again.get_json()) == (200, r.get_json())
    assert store.events(row.island_id) == events
    # other facts: refused, the first registration stands
    other = post(client, row.island_id, token, node_ip="127.0.0.12", ports=own_ports(row), pod_name=row.pod_name)
    assert other.status_code == 409 and other.get_json()["error"] == "RegistrationRefused"
    assert store.registration(row.island_id).node_ip == "127.0.0.11"
    assert [e.reason for e in store.events(row.island_id)].count("Registered") == 1


@pytest.mark.parametrize("field, value", [
    ("ports", "40000 40001 40002"), ("pod_name", "altraserver-mallory-dev-9"),
])
def test_facts_that_are_not_the_islands_are_refused(app_and_island, store, field, value):
    client, row, token = app_and_island
    form = {"node_ip": "127.0.0.11", "ports": own_ports(row), "pod_name": row.pod_name, field: value}
    r = post(client, row.island_id, token, **form)
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["error"] == "RegistrationRefused" and value.split()[0] in r.get_json()["message"]
    assert store.registration(row.island_id) is None


def test_the_node_ip_must_be_the_one_the_tracker_saw(app_and_island, store):
    client, row, token = app_and_island
    assert store.transition(row.island_id, row.generation, "starting", "Started", "", node="n1", host_ip="127.0.0.11")
    r = post(client, row.island_id, token, node_ip="127.0.0.99", ports=own_ports(row), pod_name=row.pod_name)
    assert r.status_code == 409 and "tracker saw 127.0.0.11" in r.get_json()["message"]
    ok = post(client, row.island_id, token, node_ip="127.0.0.11", ports=own_ports(row), pod_name=row.pod_name)
    assert ok.status_code == 200


@pytest.mark.parametrize("state", ["terminating", "lost", "failed"])
def test_registration_is_refused_while_the_island_is_going_or_gone(app_and_island, store, state):
    client, row, token = app_and_island
    assert store.transition(row.island_id, row.generation, state, "Test", "")
    r = post(client, row.island_id, token, node_ip="127.0.0.11", ports=own_ports(row), pod_name=row.pod_name)
    assert r.status_code == 409 and f"is {state}" in r.get_json()["message"]
    assert store.registration(row.island_id) is None


@pytest.mark.parametrize("token", [None, "", "wrong", "tok-" + "y" * 30])
def test_registration_without_the_right_token_is_forbidden(app_and_island, store, token):
    client, row, _ = app_and_island
    r = post(client, row.island_id, token, node_ip="127.0.0.11", ports=own_ports(row), pod_name=row.pod_name)
    assert r.status_code == 403
    body = r.get_json()
    assert body["error"] == "PermissionDenied" and "tok-" not in str(body)
    assert store.registration(row.island_id) is None


def test_free_unknown_used_and_other_launch_ids_answer_alike(app_and_island, store):
    """No id probing: a wrong token on a live island, a free id, a never-used id and the token of
    an island's previous launch all get the same status and the same body."""
    client, row, token = app_and_island
    form = {"node_ip": "127.0.0.11", "ports": own_ports(row), "pod_name": row.pod_name}
    wrong_token = post(client, row.island_id, "tok-" + "z" * 30, **form)
    never_used = post(client, 998, token, **form)
    out_of_range = post(client, 4_000_000, token, **form)
    freed_token = "tok-" + "f" * 30
    freed = store.allocate("bob", "dev", lambda i: f"altraserver-bob-dev-{i}", {}, hash_token(freed_token),
                           IslandSettings(id_min=900, id_max=910))
    store.release(freed.island_id, freed.generation, "TestDone")
    free = post(client, freed.island_id, freed_token, **form)
    restarted = store.restart(row.island_id, row.generation, hash_token("tok-" + "n" * 30))
    old_launch = post(client, row.island_id, token, **form)
    answers = [(r.status_code, r.get_data()) for r in (wrong_token, never_used, out_of_range, free, old_launch)]
    assert answers == [answers[0]] * 5 and answers[0][0] == 403, answers
    store.release(restarted.island_id, restarted.generation, "TestDone")


@pytest.mark.parametrize("value", ["$(reboot)", "a'b\"c", "x\ny", "k: [v", "刘电波", "x" * 300, "127.0.0.1\x1b[2J",
                                   "127.0.0.1\u202e"])
def test_hostile_registration_fields_are_refused_cleanly(app_and_island, store, value):
    client, row, token = app_and_island
    r = post(client, row.island_id, token, node_ip=value, ports=own_ports(row), pod_name=row.pod_name)
    assert r.status_code == 400
    assert "Traceback" not in r.get_data(as_text=True)
    assert store.registration(row.island_id) is None


@pytest.mark.parametrize("field", ["ports", "pod_name"])
def test_control_characters_are_refused_in_every_field(app_and_island, store, field):
    client, row, token = app_and_island
    form = {"node_ip": "127.0.0.11", "ports": own_ports(row), "pod_name": row.pod_name}
    form[field] = form[field] + "\x1b]0;owned\x07"
    r = post(client, row.island_id, token, **form)
    assert r.status_code == 400 and r.get_json()["message"].startswith(f"{field}: ")
    assert store.registration(row.island_id) is None
