"""The seed's flow end to end on the sandbox: real sshd, kubectl, MariaDB, processes, libfaketime."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from fixtures.island import ask_time, wait_until
from island_ssh.core.errors import CapacityError, InvalidInput
from island_ssh.service.islands import LaunchRequest

pytestmark = pytest.mark.slow


def island_now(row) -> dt.datetime:
    return dt.datetime.fromisoformat(ask_time(row.host_ip, row.ports[2])["now"])


def test_two_islands_dev_and_weekly_become_ready_registered_and_answer(island_env):
    env = island_env
    a, b = env.service.launch_many([LaunchRequest(owner="刘电波", branch="dev"),
                                    LaunchRequest(owner="tester2", branch="weekly")])
    a, b = env.wait_state(a.island_id, "ready"), env.wait_state(b.island_id, "ready")
    assert a.node.startswith("node-dev") and b.node == "node-weekly-1"
    assert a.pod_name.startswith("altraserver-liudianbo-dev-")
    for row in (a, b):
        assert list(row.ports) == [30000 + 3 * row.island_id + k for k in range(3)]
        reg = wait_until(lambda: env.store.registration(row.island_id), 10, "registration row")
        assert reg.node_ip == row.host_ip
        for port in row.ports:
            assert ask_time(row.host_ip, port)["port"] == port
    events = [e.to_state for e in env.store.events(a.island_id)]
    assert events[:2] == ["allocated", "applying"] and events[-1] == "ready"
    assert len(events) == len(set(events)) or events.count("ready") == 1
    env.cleanup()


def test_clock_of_one_island_changes_and_the_other_does_not(island_env):
    env = island_env
    a, b = env.service.launch_many([LaunchRequest(owner="alice", branch="dev"),
                                    LaunchRequest(owner="bob", branch="dev")])
    a, b = env.wait_state(a.island_id, "ready"), env.wait_state(b.island_id, "ready")
    target = dt.datetime(2021, 9, 18, 23, 30, 7)
    env.service.set_clock(a.island_id, "2021-09-18 23:30:07")
    # libfaketime re-reads the clock file within faketime_cache_duration (1 s)
    now_a = wait_until(lambda: (t := island_now(a)) < dt.datetime(2022, 1, 1) and t, 3, "island a's new clock")
    assert abs((now_a - target).total_seconds()) < 5
    assert abs((island_now(b) - dt.datetime.now()).total_seconds()) < 5
    env.service.set_clock(a.island_id, "+2d")
    wait_until(lambda: abs((island_now(a) - target - dt.timedelta(days=2)).total_seconds()) < 10, 3, "+2d shift")
    assert env.store.get(a.island_id).clock_setting == "+2d"
    env.service.reset_clock(a.island_id)
    wait_until(lambda: abs((island_now(a) - dt.datetime.now()).total_seconds()) < 5, 3, "reset to real time")
    env.cleanup()


def test_delete_frees_the_id_and_ports_for_the_next_launch(island_env):
    env = island_env
    first = env.service.launch(LaunchRequest(owner="carol", branch="dev"))
    env.wait_state(first.island_id, "ready")
    env.service.delete(first.island_id)
    env.wait_state(first.island_id, "deleted")
    assert env.kubectl.pod(first.pod_name) is None
    again = env.service.launch(LaunchRequest(owner="dave", branch="dev"))
    assert again.island_id == first.island_id and list(again.ports) == list(first.ports)
    env.wait_state(again.island_id, "ready")
    env.cleanup()


@pytest.mark.parametrize("env_vars, state, reason", [
    ({"ISLAND_SERVER_FAIL": "crash:3", "ISLAND_SERVER_FAIL_AFTER": "0"}, "failed", "Error"),
    ({"ISLAND_SERVER_FAIL": "eat:400", "ISLAND_SERVER_FAIL_AFTER": "0"}, "failed", "OOMKilled"),
])
def test_server_failures_are_reported_with_kubernetes_reasons(island_env, env_vars, state, reason):
    env = island_env
    row = env.service.launch(LaunchRequest(owner="erin", branch="dev", env=env_vars))
    row = env.wait_state(row.island_id, ("failed", "ready"))
    assert (row.state, row.reason) == (state, reason)
    env.cleanup()


def test_too_much_memory_is_refused_at_once_with_the_largest_free(island_env):
    env = island_env
    with pytest.raises(CapacityError, match=r"no dev node has 64Gi free: largest free is"):
        env.service.launch(LaunchRequest(owner="frank", branch="dev", memory="64Gi"))
    assert env.store.active() == []


def test_unschedulable_when_the_capacity_check_is_off(island_env):
    env = island_env
    svc = type(env.service)(env.settings.replace(islands={"capacity_check": False}), env.store, env.kubectl)
    row = svc.launch(LaunchRequest(owner="gina", branch="dev", memory="64Gi"))
    row = env.wait_state(row.island_id, "unschedulable")
    assert "Insufficient memory" in row.message and row.message.startswith("0/3 nodes are available")
    env.cleanup()


def test_readiness_timeout(island_env):
    env = island_env
    svc = type(env.service)(env.settings.replace(islands={"ready_timeout": 4.0}), env.store, env.kubectl)
    old = env.tracker.islands
    env.tracker.islands = svc.islands
    try:
        row = svc.launch(LaunchRequest(owner="hank", branch="dev", env={"ISLAND_SERVER_LISTEN_AFTER": "600"}))
        row = env.wait_state(row.island_id, "timeout", timeout=30)
        assert row.message
    finally:
        env.tracker.islands = old
    env.cleanup()


def test_fifty_launches_at_once_get_distinct_ids_and_ports_and_all_become_ready(island_env):
    env = island_env
    results, errors = [], []

    def one(i):
        try:
            results.append(env.service.launch(LaunchRequest(owner=f"load{i}", branch="dev")))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    ids = [r.island_id for r in results]
    assert len(set(ids)) == 50
    assert len({r.ports[0] for r in results}) == 50
    for r in results:
        env.wait_state(r.island_id, "ready", timeout=120)
    env.cleanup()


@pytest.mark.parametrize("owner", ["O'Brien \"q\"", "$(touch /tmp/pwned)", "a\nb: [c", "刘电波🙂", "{{x}}", "x" * 64])
def test_hostile_owner_is_carried_as_data_or_refused(island_env, owner):
    env = island_env
    try:
        row = env.service.launch(LaunchRequest(owner=owner, branch="dev",
                                               env={"NOTE": "$(id) `id` '; rm -rf / #\n---\nkind: Pod"}))
    except InvalidInput as exc:
        assert "owner" in exc.message
        return
    pod = wait_until(lambda: env.kubectl.pod(row.pod_name), 10, "pod object")
    assert pod["metadata"]["annotations"]["island-ssh/owner"] == owner
    env_list = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env_list["NOTE"] == "$(id) `id` '; rm -rf / #\n---\nkind: Pod"
    assert env.store.get(row.island_id).owner == owner
    env.cleanup()


@pytest.mark.parametrize("field, value", [
    ("branch", "dev; rm -rf /"), ("start_time", "2021-13-40 99:99:99"), ("memory", "$(id)"),
    ("image", "x\ny"), ("env", {"BAD NAME": "1"}),
])
def test_hostile_fields_are_refused_with_the_field_named(island_env, field, value):
    env = island_env
    kwargs = {"owner": "ivan", "branch": "dev", field: value}
    with pytest.raises(InvalidInput) as info:
        env.service.launch(LaunchRequest(**kwargs))
    assert field.replace("_", " ") in info.value.message or field in info.value.message
