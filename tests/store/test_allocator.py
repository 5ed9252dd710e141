"""The allocator on a real MariaDB: lowest free id, ports, reuse after release, exhaustion, races."""

from __future__ import annotations

import threading

import pytest

from island_ssh.core.settings import IslandSettings
from island_ssh.core.errors import AllocationError, ConfigError, InvalidInput
from island_ssh.store import Store, hash_token
from island_ssh.testing.allocation import run_burst

TOKEN_HASH = hash_token("secret")


def pod_name(island_id: int) -> str:
    return f"island-{island_id}"


def allocate(store: Store, settings: IslandSettings, owner: str = "tester", **kw):
    args = dict(owner=owner, branch="dev", pod_name_fn=pod_name, overrides=None, token_hash=TOKEN_HASH,
                settings=settings)
    args.update(kw)
    return store.allocate(**args)


def test_island_269_gets_the_seeds_ports(fresh_store):
    row = allocate(fresh_store, IslandSettings(id_min=269, id_max=300))
    assert (row.island_id, row.ports) == (269, (30807, 30808, 30809))
    assert (row.state, row.generation, row.pod_name, row.port_base) == ("allocated", 1, "island-269", 30807)
    assert row.token_hash == TOKEN_HASH
    [event] = fresh_store.events(269)
    assert (event.from_state, event.to_state, event.generation, event.reason) == (None, "allocated", 1, "Allocated")
    assert fresh_store.get(269) == row


def test_lowest_free_id_and_reuse_only_after_release(fresh_store):
    settings = IslandSettings(id_min=5, id_max=20)
    a, b, c = (allocate(fresh_store, settings) for _ in range(3))
    assert [a.island_id, b.island_id, c.island_id] == [5, 6, 7]

    # a failed or terminating island still holds its id: only `deleted` frees it
    assert fresh_store.transition(6, b.generation, "failed", "OOMKilled", "server died")
    assert fresh_store.transition(6, b.generation, "terminating", "Deleting", "")
    assert allocate(fresh_store, settings).island_id == 8

    assert fresh_store.release(6, b.generation, "PodDeleted")
    again = allocate(fresh_store, settings, owner="next")
    assert (again.island_id, again.generation, again.state, again.owner) == (6, 2, "allocated", "next")
    assert again.ready_at is None and again.deleted_at is None and again.node is None
    assert allocate(fresh_store, settings).island_id == 9
    assert [e.generation for e in fresh_store.events(6)] == [1, 1, 1, 1, 2]


def test_exhaustion_names_the_range_and_the_count(fresh_store):
    settings = IslandSettings(id_min=40, id_max=42)
    rows = [allocate(fresh_store, settings) for _ in range(3)]
    with pytest.raises(AllocationError) as info:
        allocate(fresh_store, settings)
    assert "no free island id in 40..42: 3 of 3 in use" in str(info.value)
    assert "islands.id_min/id_max" in str(info.value)
    fresh_store.release(41, rows[1].generation, "PodDeleted")
    assert allocate(fresh_store, settings).island_id == 41


def test_widening_the_range_below_uses_the_new_lowest_id(fresh_store):
    allocate(fresh_store, IslandSettings(id_min=50, id_max=52))
    assert allocate(fresh_store, IslandSettings(id_min=48, id_max=52)).island_id == 48


def test_overrides_and_unicode_owner_are_stored(fresh_store):
    overrides = {"memory": "3Gi", "env": {"LANG": "zh_CN.UTF-8", "NOTE": "it's \"quoted\" 🏝"}, "start_time": None}
    row = allocate(fresh_store, IslandSettings(id_min=1, id_max=3), owner="刘电波", overrides=overrides)
    assert fresh_store.get(row.island_id).overrides == overrides
    assert fresh_store.list(owner="刘电波") == [row]


@pytest.mark.parametrize("field, value, message", [
    ("owner", "", "owner: must not be empty"),
    ("owner", "x" * 100_000, "owner: 100000 characters, at most 128"),
    ("branch", "\ud800", "branch: contains characters that are not valid Unicode"),
    ("token_hash", "not-a-hash", "token_hash: expected the sha256 hex digest"),
    ("overrides", {"env": "x" * 100_000}, "overrides: 100011 characters"),
    ("pod_name_fn", lambda i: "p" * 300, "pod name: 300 characters"),
])
def test_bad_input_is_refused_before_any_id_is_taken(fresh_store, field, value, message):
    settings = IslandSettings(id_min=1, id_max=3)
    with pytest.raises(InvalidInput, match=message):
        allocate(fresh_store, settings, **{field: value})
    assert fresh_store.active() == []
    assert allocate(fresh_store, settings).island_id == 1


def test_a_range_whose_ports_do_not_fit_is_a_config_error(fresh_store):
    with pytest.raises(ConfigError, match="islands.id_max"):
        allocate(fresh_store, IslandSettings(id_min=1, id_max=20000))


def test_many_threads_get_distinct_contiguous_ids(fresh_store):
    settings = IslandSettings(id_min=100, id_max=999)
    got: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(16, timeout=30)

    def run():
        start.wait()
        for _ in range(8):
            try:
                got.append(allocate(fresh_store, settings).island_id)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(got) == list(range(100, 100 + 128))


def test_two_processes_of_16_threads_never_share_an_id(fresh_store):
    burst = run_burst(fresh_store.settings, IslandSettings(id_min=1, id_max=999), processes=2, threads=16,
                      per_thread=10, timeout=120)
    assert burst.errors == []
    assert len(burst.ids) == len(set(burst.ids)) == 320
    assert sorted(burst.ids) == list(range(1, 321))
    assert {r.island_id for r in fresh_store.active()} == set(burst.ids)


@pytest.mark.parametrize("owner, owner_id", [
    ("王伟", "u-1001"),
    ("王伟", "王伟@工作室"),
    ("$(reboot)", "`id`; DROP TABLE islands; --"),
    ("a'b\"c", "{{ 7*7 }}"),
    ("x", "é" * 128),
])
def test_owner_id_round_trips_beside_the_name(fresh_store, owner, owner_id):
    settings = IslandSettings(id_min=1, id_max=3)
    row = allocate(fresh_store, settings, owner=owner, owner_id=owner_id)
    stored = fresh_store.get(row.island_id)
    assert (row.owner, row.owner_id) == (stored.owner, stored.owner_id) == (owner, owner_id)
    assert fresh_store.list(owner_id=owner_id) == [stored]
    assert fresh_store.list(owner_id=owner_id + " ") == []  # exact: no trimming, no case folding
    restarted = fresh_store.restart(row.island_id, row.generation, TOKEN_HASH)
    assert restarted.owner_id == owner_id  # a restart keeps whose it is


def test_without_an_owner_id_the_name_is_the_id(fresh_store):
    row = allocate(fresh_store, IslandSettings(id_min=1, id_max=3), owner="刘电波")
    assert row.owner_id == fresh_store.get(row.island_id).owner_id == "刘电波"


@pytest.mark.parametrize("owner_id, message", [
    ("", "owner_id: is empty"),
    (" u-1", "owner_id: starts or ends with white space"),
    ("u\n1", r"owner_id: contains a control character \(U\+000A\)"),
    ("u\x001", r"owner_id: contains a control character \(U\+0000\)"),
    ("\ud800", "owner_id: contains a lone surrogate"),
    ("x" * 129, "owner_id: 129 characters; at most 128"),
    (42, "owner_id: expected text, got int"),
])
def test_a_bad_owner_id_is_refused_before_any_id_is_taken(fresh_store, owner_id, message):
    settings = IslandSettings(id_min=1, id_max=3)
    with pytest.raises(InvalidInput, match=message):
        allocate(fresh_store, settings, owner_id=owner_id)
    assert fresh_store.active() == []
