"""Idle islands through the API (Flask's test client over a real Store): GET /api/idle, the
island's ``idle`` object, the store's claims (one run per interval across workers, one warning)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from island_ssh.core.idle import IdleRecord
from island_ssh_web import create_app
from web_support import LIU, allocate, bearer, service_without_cluster, web_settings


@pytest.fixture(scope="module")
def settings(db_settings):
    return web_settings(db_settings=db_settings).replace(islands={"idle_after": "2h"})


@pytest.fixture(scope="module")
def service(settings, store):
    return service_without_cluster(settings, store)


@pytest.fixture(scope="module")
def client(settings, service):
    return create_app(settings, service=service).test_client()


@pytest.fixture()
def ready_island(store, settings):
    row = allocate(store, settings, "刘电波", "dev")
    assert store.transition(row.island_id, row.generation, "ready", "Ready", "test")
    yield store.get(row.island_id)
    store.release(row.island_id, row.generation, "TestDone")


def body(response) -> dict:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    return json.loads(text)


def test_an_idle_island_shows_in_the_list_and_in_its_own_json(client, store, ready_island):
    row, now = ready_island, store.idle.now()
    since = now - timedelta(hours=2, minutes=10)
    assert store.idle.save([(row.island_id, row.generation,
                             IdleRecord(quiet_since=since, idle_since=since, last_activity_at=since, checked_at=now))])
    listing = body(client.get("/api/idle", headers=bearer(LIU)))
    assert listing["enabled"] and listing["idle_after_seconds"] == 7200
    mine = [i for i in listing["islands"] if i["id"] == row.island_id]
    assert mine and mine[0]["idle"] and mine[0]["idle_text"] == "idle 2h 10m"
    island = body(client.get(f"/api/islands/{row.island_id}", headers=bearer(LIU)))
    assert island["idle"]["idle"] and island["idle"]["idle_text"] == "idle 2h 10m"
    assert island["idle"]["last_activity_at"].endswith("Z")


def test_an_active_island_is_listed_only_with_all(client, store, ready_island):
    row, now = ready_island, store.idle.now()
    store.idle.save([(row.island_id, row.generation, IdleRecord(last_activity_at=now, checked_at=now))])
    assert row.island_id not in [i["id"] for i in body(client.get("/api/idle", headers=bearer(LIU)))["islands"]]
    everyone = body(client.get("/api/idle?all=true", headers=bearer(LIU)))["islands"]
    assert [i for i in everyone if i["id"] == row.island_id][0]["idle"] is False


def test_a_record_of_an_older_generation_is_not_shown(client, store, ready_island):
    row, now = ready_island, store.idle.now()
    store.idle.save([(row.island_id, row.generation, IdleRecord(idle_since=now, checked_at=now))])
    store.db.transaction(lambda cur: cur.execute("UPDATE islands SET idle_generation = idle_generation - 1 "
                                                 "WHERE island_id = %s", (row.island_id,)))
    assert body(client.get(f"/api/islands/{row.island_id}", headers=bearer(LIU)))["idle"]["idle"] is False


@pytest.mark.parametrize("value", ["maybe", "$(id)", "1e9", "岛", "x" * 5000])
def test_bad_query_values_are_refused_in_one_line(client, value):
    response = client.get("/api/idle", query_string={"all": value}, headers=bearer(LIU))
    assert response.status_code == 400 and "\n" not in body(response)["message"]


def test_idle_needs_a_user(client):
    assert client.get("/api/idle").status_code == 401


def test_the_spec_describes_idle(client):
    spec = body(client.get("/api/openapi.json"))
    assert "/api/idle" in spec["paths"] and "idle" in spec["components"]["schemas"]["Island"]["properties"]


def test_a_run_is_claimed_once_per_interval_and_a_warning_once(store, ready_island):
    name = "idle-test-claim"
    assert store.idle.claim_run(name, 3600) is not None
    assert store.idle.claim_run(name, 3600) is None          # another worker, within the interval
    assert store.idle.claim_run(name, 3600, force=True) is not None
    row, now = ready_island, store.idle.now()
    assert store.idle.claim_warning(row.island_id, row.generation) is None  # not idle: nothing to warn
    store.idle.save([(row.island_id, row.generation, IdleRecord(idle_since=now, checked_at=now))])
    assert store.idle.claim_warning(row.island_id, row.generation) is not None
    assert store.idle.claim_warning(row.island_id, row.generation) is None  # warned once
    assert store.idle.claim_warning(row.island_id, row.generation + 1) is None


def test_the_island_page_has_the_activity_line_in_both_languages(client, ready_island):
    from web_support import login
    login(client, LIU)
    for lang, label in (("en", "Activity"), ("zh", "活动")):
        page = client.get(f"/islands/{ready_island.island_id}?lang={lang}").get_data(as_text=True)
        assert 'id="d-idle"' in page and "island_idle.js" in page and label in page
    script = client.get("/static/island_ssh/island_idle.js")
    assert script.status_code == 200 and b"idle_text" in script.get_data()


@pytest.mark.parametrize("field, value", [("idle_after", "0"), ("idle_after", "$(id)"), ("idle_after", "2h\nx"),
                                          ("idle_grace", "-1h"), ("idle_check_interval", "1e9"),
                                          ("idle_check_interval", "٣m"), ("idle_batch_max", 0),
                                          ("idle_batch_max", 10**9), ("idle_probe_every", "0s"),
                                          ("idle_probe_every", "often"), ("idle_probe_every", "10m;id")])
def test_bad_idle_settings_stop_the_service_naming_the_setting(settings, store, field, value):
    from island_ssh.core.errors import ConfigError
    with pytest.raises(ConfigError) as exc:
        service_without_cluster(settings.replace(islands={field: value}), store)
    assert f"islands.{field}" in exc.value.message and "\n" not in exc.value.message


def test_idle_after_off_turns_the_check_off(settings, store):
    service = service_without_cluster(settings.replace(islands={"idle_after": "off"}), store)
    assert not service.idle.check_all(force=True).ran and service.idle.listing()["enabled"] is False
    assert service.kubectl.calls == []
