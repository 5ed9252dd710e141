"""Code version per island in real MariaDB (migrations/0010): stored with the registration, per
generation, hostile values refused after the token check; the branches' readings replaced whole."""

from __future__ import annotations

import pytest

from island_ssh.core import code_version as cv
from island_ssh.core.errors import InvalidInput, PermissionDenied
from island_ssh.core.settings import IslandSettings
from island_ssh.store import hash_token, new_token

SETTINGS = IslandSettings(id_min=400, id_max=440)

HOSTILE = [
    "$(rm -rf /)", "it's", "a\nb", "tab\there", "nul\x00", "刘电波", "x" * 129, "`id`", "a;b", "key: [1]",
    "\ud800", "  padded", "a  b", "!unreadable2",
]


@pytest.fixture
def island(store):
    token = new_token()
    row = store.allocate("刘电波", "weekly", lambda i: f"island-{i}", None, hash_token(token), SETTINGS)
    yield row, token
    store.release(row.island_id, row.generation, "TestDone")


def test_the_registered_version_is_stored_with_its_time_and_named_in_the_event(store, island):
    row, token = island
    assert store.get(row.island_id).code_version is None  # not reported yet
    store.register(row.island_id, token, "10.0.0.1", list(row.ports), row.pod_name, code_version="abc123")
    got = store.get(row.island_id)
    assert got.code_version == "abc123" and got.code_version_at is not None
    assert store.events(row.island_id)[-1].message.endswith("code abc123")


@pytest.mark.parametrize("reported, stored", [("", ""), (cv.UNREADABLE, cv.UNREADABLE),
                                              ("v1.2.3+build:45/x@y#7", "v1.2.3+build:45/x@y#7"),
                                              ("a" * 128, "a" * 128)])
def test_no_file_and_unreadable_are_stored_as_such(store, island, reported, stored):
    row, token = island
    store.register(row.island_id, token, "10.0.0.1", list(row.ports), row.pod_name, code_version=reported)
    assert store.get(row.island_id).code_version == stored


@pytest.mark.parametrize("bad", HOSTILE)
def test_a_hostile_version_is_refused_in_one_line_and_nothing_is_registered(store, island, bad):
    row, token = island
    with pytest.raises(InvalidInput) as caught:
        store.register(row.island_id, token, "10.0.0.1", list(row.ports), row.pod_name, code_version=bad)
    assert "\n" not in caught.value.message and "code_version" in caught.value.message
    assert len(caught.value.message) < 400
    assert store.registration(row.island_id) is None and store.get(row.island_id).code_version is None


def test_the_token_is_checked_before_the_version_is_looked_at(store, island):
    row, _ = island
    with pytest.raises(PermissionDenied):
        store.register(row.island_id, new_token(), "10.0.0.1", list(row.ports), row.pod_name, code_version="$(id)")


def test_a_restart_forgets_the_old_generations_version_until_the_new_pod_reports(store, island):
    row, token = island
    store.register(row.island_id, token, "10.0.0.1", list(row.ports), row.pod_name, code_version="old1")
    token2 = new_token()
    new = store.restart(row.island_id, row.generation, hash_token(token2))
    assert new.generation == row.generation + 1 and new.code_version is None and new.code_version_at is None
    store.register(row.island_id, token2, "10.0.0.1", list(row.ports), row.pod_name, code_version="new2")
    assert store.get(row.island_id).code_version == "new2"


def test_a_registration_without_a_version_leaves_it_unknown(store, island):
    row, token = island  # an entry script from before issue 15, or recover's adopt
    store.register(row.island_id, token, "10.0.0.1", list(row.ports), row.pod_name)
    assert store.get(row.island_id).code_version is None
    assert "code" not in store.events(row.island_id)[-1].message


def test_branch_readings_are_replaced_whole_per_branch(fresh_store):
    s = fresh_store.code_versions
    assert s.readings() == [] and s.last_read()[0] is None
    s.replace(["dev", "weekly"], [cv.NodeReading("dev", "n1", "abc", pod="p1"),
                                  cv.NodeReading("dev", "n2", None, pod="p2", error="kubectl exec exited 1"),
                                  cv.NodeReading("weekly", "n3", "", pod="p3")])
    got = {(r.branch, r.node): r for r in s.readings()}
    assert got[("dev", "n1")].version == "abc" and got[("dev", "n2")].version is None
    assert got[("dev", "n2")].error == "kubectl exec exited 1" and got[("weekly", "n3")].version == ""
    assert all(r.read_at is not None for r in got.values())
    last, now = s.last_read()
    assert 0 <= (now - last).total_seconds() < 60
    # dev read again: n2 no longer has a ready island, so its row goes; weekly untouched
    s.replace(["dev"], [cv.NodeReading("dev", "n1", "def", pod="p9")])
    got = {(r.branch, r.node): r.version for r in s.readings()}
    assert got == {("dev", "n1"): "def", ("weekly", "n3"): ""}
