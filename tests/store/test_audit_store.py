"""The audit log on a real MariaDB: entries written and read back by every filter, who may read
which, the owner kept after the id is reused, hostile text stored exactly, and a write that
fails never reaching the caller's action."""

from __future__ import annotations

import logging

from island_ssh.core.audit import Actor
from island_ssh.core.identity import User
from island_ssh.core.settings import DatabaseSettings, IslandSettings
from island_ssh.service.audit import AuditLog
from island_ssh.store import Store, hash_token

ISLANDS = IslandSettings(id_min=1, id_max=50)
OWNER = User("u-1001", "刘电波")
OTHER = User("u-2002", "王伟")
ADMIN = User("a-1", "管理员", is_admin=True)


def allocate(store, user: User):
    return store.allocate(owner=user.name, owner_id=user.id, branch="dev", pod_name_fn=lambda k: f"island-{k}",
                          overrides=None, token_hash=hash_token("t"), settings=ISLANDS)


def test_record_and_filter(fresh_store):
    log = AuditLog(fresh_store, admins=("a-1",))
    row = allocate(fresh_store, OWNER)
    log.record(Actor.of(OWNER), "launch", row.island_id, row.generation, "for 刘电波")
    log.record(Actor.pod(row.pod_name), "register", row.island_id, row.generation, "node 10.0.0.1")
    log.record(Actor.system("tracker"), "failed", row.island_id, row.generation, "Error: exit 1")
    log.record(Actor.of(ADMIN), "delete", row.island_id, row.generation, "pod island-1")
    everything = log.query()
    assert [e["action"] for e in everything] == ["delete", "failed", "register", "launch"]  # newest first
    launch = everything[-1]
    assert launch["actor"] == {"kind": "user", "id": "u-1001", "name": "刘电波", "label": "刘电波 (u-1001)",
                               "automatic": False}
    assert launch["owner_id"] == "u-1001"  # copied from the island's row
    assert launch["at"].endswith("Z") and launch["island_id"] == row.island_id
    assert [e["action"] for e in log.query(actor="a-1")] == ["delete"]
    assert [e["action"] for e in log.query(actor="tracker")] == ["failed"]
    assert [e["action"] for e in log.query(action="register")] == ["register"]
    assert len(log.query(island_id=row.island_id, limit=2)) == 2
    assert log.query(island_id=row.island_id + 1) == []
    entry, line = log.who_deleted(row.island_id)
    assert entry.actor == Actor.of(ADMIN)
    assert line.startswith(f"island {row.island_id} (generation 1) was deleted by 管理员 (a-1) at ")


def test_since_filters_on_the_databases_clock(fresh_store):
    log = AuditLog(fresh_store)
    log.record(Actor.of(None), "launch", None, None, "before")
    assert len(log.search(None, since="1h")) == 1
    assert log.search(None, since="2099-01-01T00:00:00Z") == []


def test_who_reads_what(fresh_store):
    """A tester reads their islands' trail (whoever acted) and what they did themselves; never
    other islands' entries. Admins and the operator read everything."""
    log = AuditLog(fresh_store, admins=("a-1",))
    mine = allocate(fresh_store, OWNER)
    theirs = allocate(fresh_store, OTHER)
    log.record(Actor.of(OWNER), "launch", mine.island_id, 1)
    log.record(Actor.of(OTHER), "launch", theirs.island_id, 1)
    log.record(Actor.of(ADMIN), "delete", mine.island_id, 1)
    log.record(Actor.of(ADMIN), "delete", theirs.island_id, 1)
    seen = {(e["action"], e["island_id"], e["actor"]["id"]) for e in log.search(OWNER)}
    assert seen == {("launch", mine.island_id, "u-1001"), ("delete", mine.island_id, "a-1")}
    assert log.search(OWNER, island=theirs.island_id) == []
    assert [e["island_id"] for e in log.search(OWNER, actor="a-1")] == [mine.island_id]
    assert log.who_deleted(theirs.island_id, OWNER)[0] is None
    assert log.who_deleted(mine.island_id, OWNER)[0].actor.id == "a-1"
    assert len(log.search(ADMIN)) == 4 and len(log.search(None)) == 4
    assert len(log.search(User("a-1", "x"))) == 4  # listed in web.admins


def test_the_owner_keeps_the_trail_after_the_id_is_reused(fresh_store):
    log = AuditLog(fresh_store)
    row = allocate(fresh_store, OWNER)
    log.record(Actor.of(OTHER), "delete", row.island_id, row.generation)
    fresh_store.release(row.island_id, row.generation, "Deleted")
    again = allocate(fresh_store, OTHER)
    assert again.island_id == row.island_id
    log.record(Actor.of(OTHER), "launch", again.island_id, again.generation)
    mine = log.search(OWNER, island=row.island_id)
    assert [(e["action"], e["generation"]) for e in mine] == [("delete", 1)]
    assert "deleted by 王伟 (u-2002)" in log.who_deleted(row.island_id, OWNER)[1]


def test_hostile_text_is_stored_exactly(fresh_store):
    log = AuditLog(fresh_store)
    name = "'; DROP TABLE island_audit; -- $(id) `x` \n{a: [b]} 王"
    log.record(Actor("user", "u'1", name), "delete", None, None, "d" * 10000 + "\x00")
    [e] = log.search(None, actor="u'1")
    assert e["actor"]["name"] == name[:128]
    assert len(e["detail"]) == 4000 and e["island_id"] is None


def test_a_failed_write_never_reaches_the_action(mariadb, caplog):
    # a database without the table (never migrated): the entry is lost, the caller goes on
    with Store(DatabaseSettings(**{**mariadb.settings("isl_t_no_such_db_audit").__dict__}), read_timeout=5) as broken:
        log = AuditLog(broken)
        with caplog.at_level(logging.WARNING, logger="island_ssh.service.audit"):
            log.record(Actor.of(OWNER), "delete", 3, 1, "x")
            log.record(Actor.of(OWNER), "no such action!", 3, 1)
    assert sum("audit: could not record" in r.getMessage() for r in caplog.records) == 2
