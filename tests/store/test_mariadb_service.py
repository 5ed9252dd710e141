"""island_ssh.testing.mariadb: the private mariadbd path, restarts under a Store, error messages.

These start their own mariadbd (forced with ISLAND_SSH_TEST_PRIVATE_MARIADB=1), whatever the
session's `mariadb` fixture uses, so the fallback for machines without a shared server is
proven on every run.
"""

from __future__ import annotations

import os
import time

import pytest

from island_ssh.core.settings import IslandSettings
from island_ssh.core.errors import StoreError
from island_ssh.store import Store, hash_token
from island_ssh.testing.mariadb import (
    ENV_PRIVATE, ContainerMariaDB, MariaDBServer, MariaDBUnavailable, docker_engine_answers, find_or_start_mariadb,
)

ISLANDS = IslandSettings(id_min=1, id_max=20)


def allocate(store: Store):
    return store.allocate("tester", "dev", lambda i: f"island-{i}", None, hash_token("t"), ISLANDS)


@pytest.fixture(scope="module")
def private_server(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_PRIVATE, "1")
        server = find_or_start_mariadb(tmp_path_factory.mktemp("private-mariadb"))
    with server:
        yield server


@pytest.fixture
def private_store(private_server):
    private_server.start()  # a test before may have stopped it
    name = f"isl_t_private_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    private_server.create_database(name)
    with Store(private_server.settings(name), read_timeout=5) as store:
        store.migrate()
        yield store
    private_server.start()
    private_server.drop_database(name)


def test_the_env_var_forces_a_private_server_on_its_own_port(private_server):
    assert private_server.kind == "private" and private_server.can_restart
    assert private_server.port != 3306 and private_server.pid is not None
    assert private_server.socket_path.exists()
    conn = private_server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@port, @@datadir, VERSION()")
            port, datadir, version = cur.fetchone()
    finally:
        conn.close()
    assert port == private_server.port and "MariaDB" in version
    assert os.path.realpath(datadir) == os.path.realpath(private_server.datadir)


def test_a_store_carries_on_across_a_clean_restart_and_a_crash(private_server, private_store):
    first = allocate(private_store)
    private_server.restart()  # every pooled connection is now dead
    second = allocate(private_store)
    private_server.restart(kill=True)  # SIGKILL: committed work must survive
    third = allocate(private_store)
    assert [first.island_id, second.island_id, third.island_id] == [1, 2, 3]
    assert [r.island_id for r in private_store.active()] == [1, 2, 3]


def test_a_stopped_server_is_reported_with_what_to_do(private_server, private_store):
    allocate(private_store)
    private_server.stop()
    with pytest.raises(StoreError) as info:
        private_store.get(1)
    message = str(info.value)
    assert message.startswith(f"cannot reach MySQL at 127.0.0.1:{private_server.port}: ")
    assert "is it running? (database.host/database.port in conf/island.yaml)" in message
    private_server.start()
    assert private_store.get(1).island_id == 1


def test_a_slow_statement_hits_the_read_timeout(private_store):
    slow = Store(private_store.settings, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"did not answer within read_timeout=0.5 s.*nothing was committed"):
        slow.db.transaction(lambda cur: cur.execute("SELECT SLEEP(5)"))
    assert time.monotonic() - started < 3  # not retried
    slow.close()


def test_wrong_password_and_missing_database_say_what_to_fix(private_server):
    with Store(private_server.settings("isl_t_nope", password="wrong")) as store:
        with pytest.raises(StoreError, match=r"refused user 'root'.*ISLAND_SSH_DATABASE_PASSWORD"):
            store.get(1)
    with Store(private_server.settings("isl_t_does_not_exist")) as store:
        with pytest.raises(StoreError, match=r"database `isl_t_does_not_exist` does not exist .*island-ssh migrate"):
            store.check_schema()
        assert store.schema_version() == 0


def test_bad_configured_names_are_refused_before_any_sql(private_server):
    for bad in ("island registrations", "x`; DROP TABLE islands; --", "1abc", "a" * 65, "islands"):
        with pytest.raises(StoreError, match="registration_table"):
            Store(private_server.settings("isl_t_x", registration_table=bad))
    with pytest.raises(StoreError, match="database.name"):
        Store(private_server.settings("bad-name"))


def test_the_shared_server_cannot_be_restarted():
    with pytest.raises(MariaDBUnavailable, match=f"not ours to stop or restart; set {ENV_PRIVATE}=1"):
        MariaDBServer("127.0.0.1", 3306).restart()


def test_docker_path_when_an_engine_answers():
    if not docker_engine_answers():
        pytest.skip("no Docker engine answers here (testcontainers path untested on this machine)")
    with ContainerMariaDB() as server:
        conn = server.connect()
        conn.close()


def test_close_stops_the_private_server_and_waits_for_it(private_server):
    process = private_server.process
    private_server.close()
    assert process.returncode is not None and not private_server.is_up()
