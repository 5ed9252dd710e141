"""The API on the whole product (island_env: MariaDB, the cluster sandbox behind a real sshd, real
kubectl, pods as real processes): launch, watch, logs, clock, restart, delete, permissions."""

from __future__ import annotations

import datetime as dt

import pytest

from fixtures.island import ask_time, fill_log
from island_ssh_web import create_app
from web_support import ADMIN, BOB, LIU, bearer, wait_for, web_settings

pytestmark = [pytest.mark.slow, pytest.mark.alone]


@pytest.fixture(scope="module")
def client(island_env):
    settings = web_settings(island_env.settings)
    app = create_app(settings, service=island_env.service)
    yield app.test_client()
    app.extensions["island_ssh.service.feed"].close()


def island_now(island: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(ask_time(island["host_ip"], island["ports"][2])["now"])


def ready(client, island_env, island_id: int) -> dict:
    island_env.wait_state(island_id, ("ready", "failed", "unschedulable", "timeout"), timeout=90)
    data = client.get(f"/api/islands/{island_id}", headers=bearer(LIU)).get_json()
    assert data["state"] == "ready", data
    return data


def test_launch_watch_logs_clock_restart_delete(client, island_env):
    env = island_env
    r = client.post("/api/islands", json={"branch": "dev", "start_time": "2021-09-18 23:30:07",
                                          "env": {"GAME_NOTE": "$(reboot) `id` 'q' \"dq\"\nk: [v"}},
                    headers=bearer(LIU))
    assert r.status_code == 201, r.get_json()
    launched = r.get_json()
    island_id = launched["id"]
    assert launched["owner"] == "刘电波" and launched["state"] in ("applying", "pending", "creating")
    assert r.headers["Location"].endswith(f"/api/islands/{island_id}")
    assert launched["launch"]["env_names"] == ["GAME_NOTE"] and "reboot" not in r.get_data(as_text=True)
    island = ready(client, env, island_id)
    assert island["address"] == f"{island['host_ip']}:{island['ports'][0]}"
    wait_for(lambda: client.get(f"/api/islands/{island_id}", headers=bearer(LIU)).get_json()
             ["registration"]["registered"], 15, "the pod's registration")
    started = island_now(island)
    assert started < dt.datetime(2021, 9, 20)  # the start time was applied

    states = [e["to_state"] for e in client.get(f"/api/islands/{island_id}/events", headers=bearer(LIU))
              .get_json()["events"]]
    assert states[0] == "allocated" and "applying" in states and states[-1] == "ready"

    logs = client.get(f"/api/islands/{island_id}/logs?tail=50", headers=bearer(LIU))
    assert logs.status_code == 200 and isinstance(logs.get_json()["logs"], str)

    # the clock: someone else may not; the owner may, in three ways
    assert client.post(f"/api/islands/{island_id}/clock", json={"clock": "+2d"}, headers=bearer(BOB)).status_code == 403
    r = client.post(f"/api/islands/{island_id}/clock", json={"clock": "2030-01-02 03:04:05"}, headers=bearer(LIU))
    assert r.status_code == 200 and r.get_json()["clock"]["setting"] == "2030-01-02 03:04:05"
    wait_for(lambda: abs((island_now(island) - dt.datetime(2030, 1, 2, 3, 4, 5)).total_seconds()) < 10, 5,
             "the island to read 2030-01-02")
    r = client.post(f"/api/islands/{island_id}/clock", json={"clock": "+2d"}, headers=bearer(LIU))
    assert r.status_code == 200
    wait_for(lambda: island_now(island) > dt.datetime(2030, 1, 3, 23), 5, "the +2d shift")
    r = client.post(f"/api/islands/{island_id}/clock", json={"clock": "reset"}, headers=bearer(ADMIN))
    assert r.status_code == 200  # an admin may change anyone's island
    wait_for(lambda: abs((island_now(island) - dt.datetime.now()).total_seconds()) < 10, 5, "real time again")
    bad = client.post(f"/api/islands/{island_id}/clock", json={"clock": "$(reboot)"}, headers=bearer(LIU))
    assert bad.status_code == 400 and "not understood" in bad.get_json()["message"]

    # restart: same id and ports, a new generation that becomes ready again
    assert client.post(f"/api/islands/{island_id}/restart", headers=bearer(BOB)).status_code == 403
    r = client.post(f"/api/islands/{island_id}/restart", headers=bearer(LIU))
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["generation"] == island["generation"] + 1 and r.get_json()["ports"] == island["ports"]
    ready(client, env, island_id)

    # delete: not by someone else; by the owner, then the id is free
    assert client.delete(f"/api/islands/{island_id}", headers=bearer(BOB)).status_code == 403
    r = client.delete(f"/api/islands/{island_id}", headers=bearer(LIU))
    assert r.status_code == 202
    env.wait_state(island_id, "deleted", timeout=60)
    assert client.get(f"/api/islands/{island_id}", headers=bearer(LIU)).get_json()["state"] == "deleted"
    assert client.delete(f"/api/islands/{island_id}", headers=bearer(LIU)).status_code == 404
    env.cleanup()


def test_no_capacity_is_refused_at_once_in_words(client, island_env):
    r = client.post("/api/islands", json={"branch": "dev", "memory": "60Gi"}, headers=bearer(LIU))
    assert r.status_code == 409, r.get_json()
    message = r.get_json()["message"]
    assert "largest free is" in message and "60Gi" in message


def test_an_admin_launches_for_a_chinese_named_tester(client, island_env):
    r = client.post("/api/islands", json={"owner": "王小明", "branch": "weekly"}, headers=bearer(ADMIN))
    assert r.status_code == 201, r.get_json()
    island = r.get_json()
    assert island["owner"] == "王小明" and island["branch"] == "weekly"
    assert "weekly" in island["name"]
    mine = client.get("/api/islands?owner=王小明", headers=bearer(LIU)).get_json()["islands"]
    assert [i["id"] for i in mine] == [island["id"]] and mine[0]["can_change"] is False
    island_env.cleanup()


def test_logs_of_an_island_without_a_pod_say_so(client, island_env):
    r = client.post("/api/islands", json={"branch": "dev"}, headers=bearer(LIU))
    island_id = r.get_json()["id"]
    client.delete(f"/api/islands/{island_id}", headers=bearer(LIU))
    island_env.wait_state(island_id, "deleted", timeout=60)
    logs = client.get(f"/api/islands/{island_id}/logs", headers=bearer(LIU))
    assert logs.status_code in (404, 502) and "Traceback" not in logs.get_data(as_text=True)
    assert logs.get_json()["message"]


def test_logs_are_the_owners_and_admins_and_cut_at_the_limit(client, island_env):
    """A server whose log is past islands.log_limit_bytes (1 MiB): the API returns at most that,
    cut at a whole line, and says so; another tester may not read it, an admin may."""
    limit = island_env.settings.islands.log_limit_bytes
    r = client.post("/api/islands", json={"branch": "dev"}, headers=bearer(LIU))
    assert r.status_code == 201, r.get_json()
    island_id = r.get_json()["id"]
    island = ready(client, island_env, island_id)
    fill_log(island["host_ip"], island["ports"][0], queries=limit // 8000 + 60)
    url = f"/api/islands/{island_id}/logs?tail=10000"
    data = wait_for(lambda: (d := client.get(url, headers=bearer(LIU)).get_json()).get("truncated") and d, 20,
                    "the log to pass the limit")
    assert 0 < len(data["logs"].encode()) <= limit and data["logs"].endswith("\n")
    assert data["limit_bytes"] == limit and "log_limit_bytes" in data["note"]
    denied = client.get(url, headers=bearer(BOB))
    assert denied.status_code == 403 and "only its owner or an admin" in denied.get_json()["message"]
    assert client.get(f"/api/islands/{island_id}/logs?tail=5", headers=bearer(ADMIN)).get_json()["truncated"] is False
    island_env.cleanup()
