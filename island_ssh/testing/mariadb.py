"""A real MariaDB for tests, benchmarks and the demo.

``find_or_start_mariadb(state_dir)`` picks, in order:

1. a testcontainers ``MySqlContainer`` (image ``mariadb:10.11``) when ISLAND_SSH_TEST_DOCKER=1
   and a Docker engine answers;
2. the machine's server at 127.0.0.1:3306 when it accepts root with an empty password
   (these machines start one before the session), unless ISLAND_SSH_TEST_PRIVATE_MARIADB=1;
3. a private ``mariadbd`` run as a plain child process: its own datadir and socket in
   ``state_dir``, bound to 127.0.0.1 on a free port. Only this kind can be stopped and restarted
   (fault tests: "MariaDB restarted in the middle of a launch burst").

Whoever calls it owns the result: use it as a context manager (or call ``close()``), which
stops a private server by PID and waits for it, since PID 1 here reaps no orphans.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pymysql

from island_ssh.core.settings import DatabaseSettings
from island_ssh.core.errors import StoreError
from island_ssh.testing import free_port

SHARED_HOST = "127.0.0.1"
SHARED_PORT = 3306
ENV_DOCKER = "ISLAND_SSH_TEST_DOCKER"
ENV_PRIVATE = "ISLAND_SSH_TEST_PRIVATE_MARIADB"
DOCKER_IMAGE = "mariadb:10.11"
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; keep a margin


class MariaDBUnavailable(StoreError):
    """No MariaDB could be found or started; the message says which ways were tried."""


from island_ssh.testing.waiting import wait_for  # noqa: E402  (re-exported: callers import it from here)

def _answers(host: str, port: int, user: str, password: str, timeout: float = 2.0) -> bool:
    try:
        conn = pymysql.connect(
            host=host, port=port, user=user, password=password,
            connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout,
        )
    except pymysql.err.MySQLError:
        return False
    conn.close()
    return True


class MariaDBServer:
    """Address and credentials of a MariaDB, plus lifecycle control where we own the process."""

    kind = "shared"

    def __init__(self, host: str, port: int, user: str = "root", password: str = "") -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.user}@{self.host}:{self.port}>"

    # -- use -------------------------------------------------------------------------------
    def connect(self, database: str | None = None, timeout: float = 5.0) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password,
            database=database, charset="utf8mb4", autocommit=True,
            connect_timeout=timeout, read_timeout=30, write_timeout=30,
        )

    def settings(self, name: str, **overrides) -> DatabaseSettings:
        """DatabaseSettings pointing at database ``name`` on this server."""
        fields = dict(host=self.host, port=self.port, user=self.user, password=self.password, name=name)
        fields.update(overrides)
        return DatabaseSettings(**fields)

    def create_database(self, name: str) -> None:
        self._execute(f"CREATE DATABASE {_quoted_db(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")

    def drop_database(self, name: str) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {_quoted_db(name)}")

    def _execute(self, statement: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def is_up(self) -> bool:
        return _answers(self.host, self.port, self.user, self.password, timeout=1.0)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def can_restart(self) -> bool:
        return False

    def stop(self, kill: bool = False) -> None:
        raise MariaDBUnavailable(
            f"the {self.kind} server at {self.host}:{self.port} is not ours to stop or restart; "
            f"set {ENV_PRIVATE}=1 to run tests on a private mariadbd that can be restarted"
        )

    def start(self) -> None:
        self.stop()

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        """Release whatever this object started (nothing for the shared server)."""

    def __enter__(self) -> "MariaDBServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PrivateMariaDB(MariaDBServer):
    """A ``mariadbd`` child process with its own datadir under ``state_dir``."""

    kind = "private"

    def __init__(self, state_dir: str | os.PathLike, port: int | None = None, start_timeout: float = 30.0,
                 extra_args: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__("127.0.0.1", port or free_port(), "root", "")
        self.extra_args = list(extra_args)
        self.state_dir = Path(state_dir).resolve()
        self.datadir = self.state_dir / "data"
        self.log_file = self.state_dir / "mariadbd.log"
        self.pid_file = self.state_dir / "mariadbd.pid"
        self.socket_path = self._socket_path()
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    def _socket_path(self) -> Path:
        wanted = self.state_dir / "mariadbd.sock"
        if len(str(wanted)) <= _SOCKET_PATH_MAX:
            return wanted
        # pytest's temp dirs can exceed sun_path's 108 bytes; a short private dir keeps the socket ours
        self._short_dir = Path(tempfile.mkdtemp(prefix="island-mariadb-"))
        return self._short_dir / "mariadbd.sock"

    @property
    def can_restart(self) -> bool:
        return True

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def install(self) -> None:
        """Create the datadir once (about 1.6 s); an existing one is reused."""
        if (self.datadir / "mysql").is_dir():
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            _binary("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise MariaDBUnavailable(f"mariadb-install-db did not finish within 120 s: {' '.join(cmd)}") from None
        if done.returncode != 0:
            raise MariaDBUnavailable(
                f"mariadb-install-db failed (exit {done.returncode}) for {self.datadir}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )

    def start(self) -> None:
        if self.pid is not None:
            return
        self.install()
        self._refuse_foreign_server()
        cmd = [
            _binary("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.datadir}",
            f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket_path}",
            f"--pid-file={self.pid_file}", f"--log-error={self.log_file}", "--skip-log-bin",
            "--innodb-buffer-pool-size=64M", "--max-connections=500", "--skip-name-resolve",
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        cmd.extend(self.extra_args)
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: self.process.poll() is not None or self.is_up(), self.start_timeout,
                     what=f"mariadbd answering on 127.0.0.1:{self.port}")
        except TimeoutError:
            self.stop(kill=True)
            raise MariaDBUnavailable(f"mariadbd did not answer within {self.start_timeout} s; log:\n{self._log_tail()}") from None
        if self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            raise MariaDBUnavailable(f"mariadbd exited with status {code} at start; log:\n{self._log_tail()}")

    def stop(self, kill: bool = False, timeout: float = 30.0) -> None:
        """Stop the server: SIGTERM (clean shutdown) or, with ``kill``, SIGKILL (a crash)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        short = getattr(self, "_short_dir", None)
        if short is not None:
            shutil.rmtree(short, ignore_errors=True)

    def _refuse_foreign_server(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return
        if str(self.datadir) in cmdline:
            raise MariaDBUnavailable(
                f"a mariadbd (pid {pid}) already runs on {self.datadir}, left by an earlier run; "
                f"stop it (kill {pid}) or use another state dir"
            )

    def _log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"


class ContainerMariaDB(MariaDBServer):
    """MariaDB in a Docker container through testcontainers (only where an engine answers)."""

    kind = "container"

    def __init__(self, image: str = DOCKER_IMAGE) -> None:
        from testcontainers.community.mysql import MySqlContainer

        self.container = MySqlContainer(image, username="root", password="island")
        self.container.start()
        try:
            host = self.container.get_container_host_ip()
            port = int(self.container.get_exposed_port(3306))
        except Exception:
            self.container.stop()
            raise
        super().__init__(host, port, "root", "island")

    def close(self) -> None:
        self.container.stop()


def docker_engine_answers(timeout: float = 2.0) -> bool:
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, engine down: all mean "no engine"
        return False


def find_or_start_mariadb(
    state_dir: str | os.PathLike,
    *,
    private: bool | None = None,
    docker: bool | None = None,
) -> MariaDBServer:
    """The MariaDB tests should use; see the module docstring for the order tried.

    ``private``/``docker`` default to the environment (ISLAND_SSH_TEST_PRIVATE_MARIADB,
    ISLAND_SSH_TEST_DOCKER). Docker asked for but absent falls through to the local ways.
    """
    if docker is None:
        docker = os.environ.get(ENV_DOCKER) == "1"
    if private is None:
        private = os.environ.get(ENV_PRIVATE) == "1"
    if docker and docker_engine_answers():
        return ContainerMariaDB()
    if not private and _answers(SHARED_HOST, SHARED_PORT, "root", ""):
        return MariaDBServer(SHARED_HOST, SHARED_PORT, "root", "")
    server = PrivateMariaDB(state_dir)
    try:
        server.start()
    except Exception:
        server.close()
        raise
    return server


def _binary(*names: str) -> str:
    for name in names:
        for folder in (None, "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
            found = shutil.which(name, path=folder) if folder else shutil.which(name)
            if found:
                return found
    raise MariaDBUnavailable(
        f"none of {', '.join(names)} found: install MariaDB (apt-get install mariadb-server) "
        f"or let tests use a server on {SHARED_HOST}:{SHARED_PORT} (root, empty password)"
    )


def _quoted_db(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
    return f"`{name}`"
