"""store/moves.py: a batch of transitions in a few statements ends in exactly the rows, histories,
registrations and outcomes that one ``Store.transition`` per move gives, on a real MariaDB."""

from __future__ import annotations

from island_ssh.core.settings import IslandSettings
from island_ssh.store import Move, hash_token

SETTINGS = IslandSettings(id_min=1, id_max=60)
TOKEN = "secret-token"

# (island index, generation offset, to_state, reason, message, node, host_ip, resource_version, expected_from)
SCRIPT = [
    (0, 0, "applying", "Applying", "", None, None, None, "allocated"),
    (1, 0, "applying", "Applying", "", None, None, None, "allocated"),
    (2, 0, "applying", "Applying", "", None, None, None, None),
    (0, 0, "pending", "Pending", "", None, None, 11, None),
    (0, 0, "creating", "ContainerCreating", "", "node-dev-1", "10.0.0.7", 12, None),
    (1, 7, "pending", "Pending", "", None, None, 13, None),  # another generation: refused
    (1, 0, "ready", "Ready", "", None, None, 14, "creating"),  # island 1 is applying: refused
    (0, 0, "creating", "ContainerCreating", "", None, None, 15, None),  # a repeat: the rv only, no event
    (0, 0, "creating", "ContainerCreating", "pulling 刘电波 " + "x" * 70000, None, None, 16, None),  # long text
    (0, 0, "ready", "Ready", "server up", None, None, 17, None),
    (2, 0, "pending", "Pending", "", "node-dev-2", None, 18, None),
    (0, 0, "starting", "NotReady", "probe failed", None, None, 19, None),
    (0, 0, "ready", "Ready", "server up", None, "10.0.0.8", 20, None),  # ready_at stays the first
    (2, 0, "deleted", "Deleted", "pod gone", None, None, 21, None),  # frees the id, drops the registration
    (2, 0, "lost", "PodMissing", "", None, None, 22, None),  # deleted is final: refused
    (3, 0, "terminating", "Deleting", "", None, None, None, None),
    (99, 0, "applying", "Applying", "", None, None, None, None),  # no such island: refused
    (1, 0, "failed", "Error", "exit 3", None, None, 23, ("applying", "pending")),
]


def islands(store, n: int):
    rows = [store.allocate(f"owner{i}", "dev", lambda i: f"island-{i}", None, hash_token(TOKEN), SETTINGS)
            for i in range(n)]
    for row in rows:
        store.register(row.island_id, TOKEN, "10.0.0.1", ",".join(map(str, row.ports)), row.pod_name)
    return rows


def moves(rows) -> list[Move]:
    out = []
    for index, offset, *rest in SCRIPT:
        island_id, generation = (rows[index].island_id, rows[index].generation + offset) if index < len(rows) else (
            59, 1)
        out.append(Move(island_id, generation, *rest))
    return out


def observed(store, row):
    now = store.get(row.island_id)
    fields = (now.generation, now.state, now.reason, now.message, now.node, now.host_ip, now.resource_version,
              now.ready_at is None, now.deleted_at is None, now.state_since == now.updated_at)
    history = [(e.generation, e.from_state, e.to_state, e.reason, e.message, e.resource_version)
               for e in store.events(row.island_id) if e.reason != "Registered"]  # names the island's own ports
    return fields, history, store.registration(row.island_id) is not None


def test_a_batch_ends_where_one_transition_per_move_ends(fresh_store):
    one_by_one, batched = islands(fresh_store, 4), islands(fresh_store, 4)
    singles = [fresh_store.transition(*m) for m in moves(one_by_one)]
    outcomes = fresh_store.transition_batch(moves(batched))
    assert outcomes == singles
    assert singles.count(False) == 4  # the script's refusals happened, in both
    for a, b in zip(one_by_one, batched):
        assert observed(fresh_store, a) == observed(fresh_store, b)
    fields, history, registered = observed(fresh_store, batched[0])
    assert fields[1:3] == ("ready", "Ready") and len(history) == 8 and registered
    assert observed(fresh_store, batched[2])[1][-1][2] == "deleted" and not observed(fresh_store, batched[2])[2]


def test_get_many_reads_each_id_in_order_with_none_for_the_unknown(fresh_store):
    rows = islands(fresh_store, 3)
    ids = [rows[2].island_id, 58, rows[0].island_id, rows[2].island_id]
    got = fresh_store.get_many(ids)
    assert [r.island_id if r else None for r in got] == [rows[2].island_id, None, rows[0].island_id,
                                                         rows[2].island_id]
    assert got[0] == fresh_store.get(rows[2].island_id)
    assert fresh_store.get_many([]) == []
