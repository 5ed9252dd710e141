"""Registration of a starting pod: token check, idempotent upsert, hostile input, orphans."""

from __future__ import annotations

import pymysql
import pytest

from island_ssh.core.settings import IslandSettings
from island_ssh.core.errors import InvalidInput, IslandError, PermissionDenied, RegistrationRefused
from island_ssh.store import hash_token, new_token
from island_ssh.store.registrations import REFUSED

SETTINGS = IslandSettings(id_min=260, id_max=300)

HOSTILE = [
    "it's a \"quote\" and a `backtick`",
    "'; DROP TABLE islands; --",
    "$(rm -rf /)",
    "line one\nline two\r\nline three",
    "key: value\n- list: [1, 2]\n{{ template }}\n---\n!!python/object:os.system",
    "刘电波",
    "🏝️ island 🦀 emoji 𝄞",
    "tab\there\x00nul",
    "\\N \\' \\\\",
    "x" * 100_000,
    "\ud800 lone surrogate",
]


@pytest.fixture
def island(store):
    token = new_token()
    row = store.allocate("刘电波", "dev", lambda i: f"island-{i}", None, hash_token(token), SETTINGS)
    yield row, token
    store.release(row.island_id, row.generation, "TestDone")


def own(row) -> list[int]:
    """The island's ports, as its pod's ISLAND_PORTS says them."""
    return list(row.ports)


def test_good_token_registers_and_records_an_event(store, island):
    row, token = island
    result = store.register(row.island_id, token, "10.18.1.203", own(row), row.pod_name)
    assert (result.island_id, result.generation, result.state, result.created) == (
        row.island_id, row.generation, "allocated", True)
    reg = store.registration(row.island_id)
    assert reg == result.registration
    assert (reg.node_ip, reg.ports, reg.pod_name) == ("10.18.1.203", row.ports, row.pod_name)
    last = store.events(row.island_id)[-1]
    assert (last.from_state, last.to_state, last.reason) == ("allocated", "allocated", "Registered")
    assert store.get(row.island_id).state == "allocated"


def test_a_repeat_with_the_same_facts_is_the_same_answer_and_no_new_event(store, island):
    row, token = island
    first = store.register(row.island_id, token, "10.0.0.1", ",".join(map(str, row.ports)), row.pod_name)
    events = store.events(row.island_id)
    again = store.register(row.island_id, token, "10.0.0.1", own(row), row.pod_name)
    assert first.created and not again.created
    assert again.registration == first.registration
    assert store.events(row.island_id) == events


def test_a_repeat_with_other_facts_is_refused_and_changes_nothing(store, island):
    row, token = island
    first = store.register(row.island_id, token, "10.0.0.1", own(row), row.pod_name)
    with pytest.raises(RegistrationRefused, match="already registered .* once per launch"):
        store.register(row.island_id, token, "10.0.0.2", own(row), row.pod_name)
    assert store.registration(row.island_id) == first.registration


@pytest.mark.parametrize("change, words", [
    ({"ports": [40000, 40001, 40002]}, "wrong ports 40000,40001,40002"),
    ({"ports": "reversed"}, "wrong ports"),
    ({"pod_name": "altraserver-someone-else-7"}, "wrong pod name 'altraserver-someone-else-7'"),
])
def test_facts_that_are_not_the_islands_are_refused(store, island, change, words):
    row, token = island
    ports = change.get("ports", own(row))
    if ports == "reversed":
        ports = own(row)[::-1]
    with pytest.raises(RegistrationRefused, match=words) as info:
        store.register(row.island_id, token, "10.0.0.1", ports, change.get("pod_name", row.pod_name))
    assert info.value.http_status == 409
    assert store.registration(row.island_id) is None


def test_the_node_ip_must_be_the_host_ip_the_tracker_saw(store, island):
    row, token = island
    assert store.transition(row.island_id, row.generation, "starting", "Started", "", node="node-1",
                            host_ip="127.0.0.11")
    with pytest.raises(RegistrationRefused, match=r"wrong node IP 127\.0\.0\.12 \(the tracker saw 127\.0\.0\.11\)"):
        store.register(row.island_id, token, "127.0.0.12", own(row), row.pod_name)
    assert store.register(row.island_id, token, "127.0.0.11", own(row), row.pod_name).created


@pytest.mark.parametrize("state", ["terminating", "lost", "failed"])
def test_no_registration_while_the_island_is_going_or_gone(store, island, state):
    row, token = island
    assert store.transition(row.island_id, row.generation, state, "Test", "")
    events = store.events(row.island_id)
    with pytest.raises(RegistrationRefused, match=f"island {row.island_id} is {state}"):
        store.register(row.island_id, token, "10.0.0.1", own(row), row.pod_name)
    assert store.registration(row.island_id) is None and store.events(row.island_id) == events


@pytest.mark.parametrize("token", ["wrong", "", "x" * 100_000, None])
def test_a_bad_token_is_denied_and_writes_nothing(store, island, token):
    row, _ = island
    events_before = store.events(row.island_id)
    with pytest.raises(PermissionDenied) as info:
        store.register(row.island_id, token, "10.0.0.1", own(row), row.pod_name)
    assert str(info.value) == REFUSED and type(info.value) is PermissionDenied
    assert store.registration(row.island_id) is None
    assert store.events(row.island_id) == events_before


def test_free_unknown_and_other_generation_ids_answer_as_a_wrong_token_does(store):
    """No id probing: whatever the id, a caller without the live token gets one answer."""
    old_token, token = new_token(), new_token()
    gone = store.allocate("bob", "dev", lambda i: f"island-{i}", None, hash_token(old_token), SETTINGS)
    store.release(gone.island_id, gone.generation, "PodDeleted")
    live = store.allocate("bob", "dev", lambda i: f"island-{i}", None, hash_token(token), SETTINGS)
    restarted = store.restart(live.island_id, live.generation, hash_token(new_token()))
    answers = set()
    for island_id, tok in ((gone.island_id, old_token), (299, token), (99999, token),
                           (restarted.island_id, token), (restarted.island_id, "wrong")):
        with pytest.raises(PermissionDenied) as info:
            store.register(island_id, tok, "10.0.0.1", [30807, 30808, 30809], "island-x")
        answers.add((type(info.value), str(info.value), info.value.http_status))
    assert answers == {(PermissionDenied, REFUSED, 403)}
    store.release(restarted.island_id, restarted.generation, "TestDone")


def test_release_removes_the_registration(store):
    token = new_token()
    row = store.allocate("bob", "dev", lambda i: f"island-{i}", None, hash_token(token), SETTINGS)
    store.register(row.island_id, token, "10.0.0.1", own(row), row.pod_name)
    store.release(row.island_id, row.generation, "PodDeleted")
    assert store.registration(row.island_id) is None


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:20]))
def test_a_pod_name_that_is_not_the_islands_is_refused_clearly(store, island, value):
    row, token = island
    with pytest.raises((InvalidInput, RegistrationRefused)) as info:  # 409, or a refused field (400)
        store.register(row.island_id, token, "10.0.0.1", own(row), value)
    assert isinstance(info.value, RegistrationRefused) or str(info.value).startswith("pod_name: ")
    assert store.registration(row.island_id) is None


@pytest.mark.parametrize("field", ["node_ip", "ports", "pod_name"])
@pytest.mark.parametrize("control", ["\n", "\r", "\x00", "\x1b[31m", "\t", "\u2028", "\u202e", "\x7f"])
def test_control_characters_are_refused_in_every_field(store, island, field, control):
    row, token = island
    fields = {"node_ip": "10.0.0.1", "ports": " ".join(map(str, row.ports)), "pod_name": row.pod_name}
    fields[field] = fields[field][:4] + control + fields[field][4:]
    with pytest.raises(InvalidInput, match=f"^{field}: "):
        store.register(row.island_id, token, fields["node_ip"], fields["ports"], fields["pod_name"])
    assert store.registration(row.island_id) is None


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:20]))
def test_hostile_owner_and_clock_text_are_stored_verbatim_or_refused_clearly(store, value):
    try:
        row = store.allocate(value, "dev", lambda i: f"island-{i}", {"env": {"NOTE": value}}, hash_token("t"), SETTINGS)
    except InvalidInput as exc:
        assert str(exc).startswith(("owner: ", "overrides: "))
        return
    try:
        stored = store.get(row.island_id)
        assert stored.owner == value and stored.overrides == {"env": {"NOTE": value}}
        if len(value) <= 255:
            assert store.set_clock(row.island_id, row.generation, 0, value)
            assert store.get(row.island_id).clock_setting == value
        assert [r.island_id for r in store.list(owner=value)] == [row.island_id]
    finally:
        store.release(row.island_id, row.generation, "TestDone")


@pytest.mark.parametrize("node_ip, ports", [
    ("$(rm -rf /)", [30807]), ("10.0.0.1; DROP TABLE x", [30807]), ("x" * 100_000, [30807]),
    ("10.0.0.1", "30807; rm -rf /"), ("10.0.0.1", [0]), ("10.0.0.1", [70000]), ("10.0.0.1", []),
    ("10.0.0.1", ["30807"]), ("10.0.0.1", "٣٠٨٠٧"),
])
def test_malformed_addresses_are_refused_with_the_field_name(store, island, node_ip, ports):
    row, token = island
    with pytest.raises(InvalidInput, match=r"^(node_ip|ports): "):
        store.register(row.island_id, token, node_ip, ports, row.pod_name)


def test_no_database_error_leaks_for_any_hostile_value(store, island):
    row, token = island
    for value in HOSTILE:
        for call in (
            lambda: store.register(row.island_id, value, value, value, value),
            lambda: store.register(row.island_id, token, "10.0.0.1", [30807], value),
        ):
            try:
                call()
            except IslandError:
                pass
            except pymysql.err.MySQLError as exc:  # pragma: no cover - the failure this test exists for
                pytest.fail(f"SQL error leaked for {value[:30]!r}: {exc}")


def test_orphan_registrations_and_delete(store):
    token = new_token()
    row = store.allocate("carol", "dev", lambda i: f"island-{i}", None, hash_token(token), SETTINGS)
    store.register(row.island_id, token, "10.0.0.9", own(row), row.pod_name)

    def write_foreign_rows(cur):  # rows the studio's old tooling left behind
        cur.execute("INSERT INTO island_registrations (island_id, node_ip, ports, pod_name, registered_at, "
                    "updated_at) VALUES (5000, '10.0.0.5', '45000', 'gone', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)), "
                    "(299, '10.0.0.6', '30897', 'never', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))")
    store.db.transaction(write_foreign_rows)
    assert [r.island_id for r in store.orphan_registrations()] == [299, 5000]
    assert store.delete_registration(5000) and not store.delete_registration(5000)
    assert store.delete_registration(299)
    assert store.orphan_registrations() == []
    store.release(row.island_id, row.generation, "TestDone")
