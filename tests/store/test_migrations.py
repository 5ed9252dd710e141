"""Versioned migrations on a real MariaDB: from empty, idempotent, old and half-applied schemas."""

from __future__ import annotations

import pytest

from island_ssh.core.errors import StoreError
from island_ssh.store import Store, load_migrations
from island_ssh.store.migrations import Migration, split_statements

from fixtures.db import temporary_database


def _tables(store: Store) -> set[str]:
    def read(cur):
        cur.execute("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()")
        return {r["t"] for r in cur.fetchall()}
    return store.db.transaction(read)


def _schema_rows(store: Store) -> list[tuple]:
    def read(cur):
        cur.execute("SELECT version, name, state FROM schema_migrations ORDER BY version")
        return [(r["version"], r["name"], r["state"]) for r in cur.fetchall()]
    return store.db.transaction(read)


def test_migrate_creates_the_database_and_every_table(mariadb):
    with temporary_database(mariadb, "fromempty") as name:
        mariadb.drop_database(name)  # migrate must create it
        with Store(mariadb.settings(name, registration_table="server_list")) as store:
            assert store.schema_version() == 0
            assert store.migrate() == [m.version for m in load_migrations()]
            assert {"islands", "island_events", "server_list", "schema_migrations"} <= _tables(store)
            assert store.check_schema() == store.code_schema_version
            assert all(state == "done" for _, _, state in _schema_rows(store))


def test_migrate_twice_applies_nothing_the_second_time(fresh_store):
    before = _schema_rows(fresh_store)
    assert fresh_store.migrate() == []
    assert _schema_rows(fresh_store) == before
    assert fresh_store.schema_version() == fresh_store.code_schema_version


def test_check_schema_names_both_versions_and_the_command_for_an_old_schema(mariadb):
    with temporary_database(mariadb, "old") as name, Store(mariadb.settings(name)) as store:
        assert store.migrate(target=1) == [1]
        with pytest.raises(StoreError) as info:
            store.check_schema()
        assert str(info.value) == (
            f"schema at version 1, code needs {store.code_schema_version}: run `island-ssh migrate`"
        )
        store.migrate()
        assert store.check_schema() == store.code_schema_version


def test_check_schema_on_an_empty_database_says_run_migrate(mariadb):
    with temporary_database(mariadb, "empty") as name, Store(mariadb.settings(name)) as store:
        with pytest.raises(StoreError, match=r"schema at version 0, code needs \d+: run `island-ssh migrate`"):
            store.check_schema()


def _broken_migrations() -> list[Migration]:
    good = load_migrations()
    broken = Migration(
        len(good) + 1, "broken",
        "CREATE TABLE half_one (id INT PRIMARY KEY);\nCREATE TABLE half_two (id INT PRIMARY KEY) THIS IS NOT SQL;\n",
    )
    return good + [broken]


def test_a_half_applied_migration_is_reported_and_never_continued(mariadb):
    with temporary_database(mariadb, "half") as name:
        settings = mariadb.settings(name)
        with Store(settings, migrations=_broken_migrations()) as store:
            with pytest.raises(StoreError, match=r"failed at statement 2 of 2.*half-applied"):
                store.migrate()
            assert "half_one" in _tables(store) and "half_two" not in _tables(store)
            # neither a second migrate nor start-up goes on from a half-applied state
            for attempt in (store.migrate, store.check_schema):
                label = f"{len(load_migrations()) + 1:04d}_broken"
                with pytest.raises(StoreError, match=rf"{label} was started .* never recorded as done"):
                    attempt()
        # the released code (without the broken file) refuses too: the database knows more than it
        with Store(settings) as store, pytest.raises(StoreError, match="half-applied"):
            store.check_schema()


def test_a_migration_failing_at_its_first_statement_changes_nothing_and_can_be_rerun(mariadb):
    good = load_migrations()
    bad = good + [Migration(len(good) + 1, "typo", "CREATE TABLE oops (id INT PRIMARY KEY) NOT SQL;\n")]
    with temporary_database(mariadb, "first") as name, Store(mariadb.settings(name), migrations=bad) as store:
        with pytest.raises(StoreError, match="failed at its first statement and changed nothing"):
            store.migrate()
        assert store.schema_version() == len(good)
        assert [row[2] for row in _schema_rows(store)] == ["done"] * len(good)
        fixed = good + [Migration(len(good) + 1, "typo", "CREATE TABLE oops (id INT PRIMARY KEY);\n")]
        with Store(mariadb.settings(name), migrations=fixed) as again:
            assert again.migrate() == [len(good) + 1]


def test_an_edited_applied_migration_is_refused(mariadb):
    good = load_migrations()
    edited = good[:-1] + [Migration(good[-1].version, good[-1].name, good[-1].sql + "\n-- edited\n")]
    with temporary_database(mariadb, "edited") as name:
        with Store(mariadb.settings(name)) as store:
            store.migrate()
        with Store(mariadb.settings(name), migrations=edited) as store:
            with pytest.raises(StoreError, match="was applied from a different text"):
                store.check_schema()


def test_a_database_newer_than_the_code_is_refused(mariadb):
    good = load_migrations()
    with temporary_database(mariadb, "newer") as name:
        with Store(mariadb.settings(name)) as store:
            store.migrate()
        with Store(mariadb.settings(name), migrations=good[:-1]) as older:
            with pytest.raises(StoreError, match="this code does not know"):
                older.check_schema()


def test_a_renamed_registration_table_is_reported(mariadb):
    with temporary_database(mariadb, "renamed") as name:
        with Store(mariadb.settings(name)) as store:
            store.migrate()
        with Store(mariadb.settings(name, registration_table="other_list")) as store:
            with pytest.raises(StoreError, match="registration table `other_list` does not exist"):
                store.check_schema()


def test_statements_split_at_semicolons_ending_a_line_only():
    sql = "-- a comment; with a semicolon\nCREATE TABLE a (x VARCHAR(3) DEFAULT ';');\n\nDROP TABLE b ;  \n"
    assert split_statements(sql) == ["CREATE TABLE a (x VARCHAR(3) DEFAULT ';')", "DROP TABLE b"]


def test_the_owner_id_migration_upgrades_a_database_holding_old_rows(mariadb):
    """Rows written before ids existed keep their owners: owner_id becomes the name the old
    permission checks compared, free slots stay without one, and the store reads them back."""
    before = next(m.version for m in load_migrations() if m.name == "owner_id") - 1
    with temporary_database(mariadb, "ownerid") as name, Store(mariadb.settings(name)) as store:
        assert store.migrate(target=before)[-1] == before

        def old_rows(cur):
            cur.executemany(
                "INSERT INTO islands (island_id, generation, state, pod_name, owner, branch, port_base, created_at) "
                "VALUES (%s, %s, %s, %s, %s, 'dev', %s, UTC_TIMESTAMP(6))",
                [(1, 1, "ready", "altraserver-liudianbo-dev-1", "刘电波", 30807),
                 (2, 3, "allocated", "altraserver-u1-dev-2", "a'b\"c $(reboot)", 30810),
                 (3, 0, "deleted", None, None, None)])
        store.db.transaction(old_rows)
        store.migrate()
        assert store.check_schema() == store.code_schema_version
        rows = {i: store.db.transaction(lambda cur, i=i: _owner_columns(cur, i)) for i in (1, 2, 3)}
        assert rows == {1: ("刘电波", "刘电波"), 2: ("a'b\"c $(reboot)", "a'b\"c $(reboot)"), 3: (None, None)}
        assert store.get(1).owner_id == "刘电波"
        assert [r.island_id for r in store.list(owner_id="刘电波")] == [1]


def _owner_columns(cur, island_id: int) -> tuple:
    cur.execute("SELECT owner, owner_id FROM islands WHERE island_id = %s", (island_id,))
    row = cur.fetchone()
    return row["owner"], row["owner_id"]
