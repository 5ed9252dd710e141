"""Versioned schema migrations: numbered SQL files applied in order, recorded in schema_migrations.

Files are ``migrations/NNNN_name.sql``. A file holds one group of statements, each ending with
``;`` at the end of a line; lines starting with ``--`` are comments. ``{{registration_table}}``
stands for the configured, backquoted registration table name. An applied file must never be
edited (its checksum is recorded): add a new file instead.

MariaDB commits every DDL statement on its own, so a file cannot be applied atomically. Each file
is therefore recorded as ``started`` before its first statement and ``done`` after its last. A
``started`` row left behind (a crash, or a later statement failed) means the schema may be
half-applied: migrate() and check() refuse to go on and say how to settle it by hand. A file
whose FIRST statement fails has changed nothing (single DDL statements are atomic), so its
``started`` row is removed and the error reported.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pymysql

from island_ssh.core.errors import StoreError
from island_ssh.store.db import Database, error_code, is_dropped, quote_identifier

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PLACEHOLDER = "{{registration_table}}"
_FILE_NAME = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)
_MIGRATION_READ_TIMEOUT = 600.0  # an ALTER of a big table may run for minutes
_LOCK_TIMEOUT = 60

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INT UNSIGNED NOT NULL,
    name VARCHAR(255) NOT NULL,
    checksum CHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    started_at DATETIME(6) NOT NULL,
    finished_at DATETIME(6) NULL,
    PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    def statements(self, registration_table: str) -> list[str]:
        sql = self.sql.replace(PLACEHOLDER, quote_identifier(registration_table, "database.registration_table"))
        return split_statements(sql)


def split_statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in _STATEMENT_END.split(body) if part.strip()]


def load_migrations(folder: str | Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(Path(folder).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise StoreError(f"migration file {path} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"two migration files have version {version}: {found[version].label} and {path.name}")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migration versions in {folder} must run 1, 2, 3, ... without gaps; found {versions}")
    return [found[v] for v in versions]


@dataclass(frozen=True)
class _Applied:
    version: int
    name: str
    checksum: str
    state: str
    started_at: object


class Migrator:
    def __init__(self, db: Database, registration_table: str, migrations: list[Migration] | None = None) -> None:
        self.db = db
        self.registration_table = registration_table
        self.migrations = load_migrations() if migrations is None else migrations

    @property
    def code_version(self) -> int:
        return self.migrations[-1].version if self.migrations else 0

    # -- reading ---------------------------------------------------------------------------
    def _applied(self) -> list[_Applied]:
        def read(cur) -> list[_Applied]:
            try:
                cur.execute("SELECT version, name, checksum, state, started_at FROM schema_migrations ORDER BY version")
            except pymysql.err.ProgrammingError as exc:
                if error_code(exc) == 1146:  # no bookkeeping table yet: version 0
                    return []
                raise
            return [_Applied(**row) for row in cur.fetchall()]

        return self.db.transaction(read, idempotent=True, what="reading schema_migrations")

    def schema_version(self) -> int:
        """Highest migration recorded as done (0 for an empty database)."""
        try:
            applied = self._applied()
        except StoreError as exc:
            if getattr(exc, "mysql_code", None) == 1049:
                return 0
            raise
        return max((a.version for a in applied if a.state == "done"), default=0)

    def check(self) -> int:
        """Raise StoreError unless the schema is exactly what this code needs; return the version."""
        applied = self._applied()
        self._refuse_inconsistent(applied)
        done = {a.version for a in applied}
        version = max(done, default=0)
        if any(m.version not in done for m in self.migrations):
            raise StoreError(f"schema at version {version}, code needs {self.code_version}: run `island-ssh migrate`")
        self._check_registration_table()
        return version

    def _check_registration_table(self) -> None:
        def exists(cur) -> bool:
            cur.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
                (self.registration_table,),
            )
            return cur.fetchone() is not None

        if not self.db.transaction(exists, idempotent=True, what="looking for the registration table"):
            raise StoreError(
                f"registration table `{self.registration_table}` does not exist in database "
                f"`{self.db.settings.name}`; was database.registration_table changed after migrating? "
                f"Set it back in conf/island.yaml or rename the table by hand"
            )

    def _refuse_inconsistent(self, applied: list[_Applied]) -> None:
        known = {m.version: m for m in self.migrations}
        for a in applied:
            m = known.get(a.version)
            if a.state != "done":
                raise StoreError(
                    f"migration {a.version:04d}_{a.name} was started at {a.started_at} and never recorded as done: "
                    f"the schema may be half-applied. Compare the database with "
                    f"island_ssh/store/migrations/{a.version:04d}_{a.name}.sql, finish or undo it by hand, then "
                    f"record the outcome (UPDATE schema_migrations SET state='done' WHERE version={a.version}; "
                    f"or DELETE FROM schema_migrations WHERE version={a.version};) and run `island-ssh migrate`"
                )
            if m is None:
                raise StoreError(
                    f"the database has migration {a.version:04d}_{a.name}, which this code does not know "
                    f"(it knows up to {self.code_version}): run a newer island_ssh against this database"
                )
            if m.checksum != a.checksum:
                raise StoreError(
                    f"migration {m.label} was applied from a different text (checksum {a.checksum[:12]}, file has "
                    f"{m.checksum[:12]}): an applied migration file was edited; restore it and add a new migration"
                )

    # -- applying --------------------------------------------------------------------------
    def migrate(self, target: int | None = None) -> list[Migration]:
        """Create the database if needed and apply the missing migrations up to ``target``."""
        conn = self.db.connect(with_database=False, read_timeout=_MIGRATION_READ_TIMEOUT)
        lock_name = "island_ssh.migrate." + hashlib.sha256(self.db.settings.name.encode()).hexdigest()[:32]
        try:
            with conn.cursor() as cur:
                try:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS {self.db.quoted_name} "
                                f"CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                    conn.select_db(self.db.settings.name)
                    cur.execute("SELECT GET_LOCK(%s, %s)", (lock_name, _LOCK_TIMEOUT))
                    (got,) = cur.fetchone()
                except (pymysql.err.MySQLError, OSError) as exc:
                    raise self.db.translate(exc, "preparing to migrate") from None
                if got != 1:
                    raise StoreError(f"another `island-ssh migrate` has held the migration lock for {_LOCK_TIMEOUT} s; "
                                     f"wait for it to finish and try again")
                try:
                    return self._apply_missing(conn, cur, target)
                finally:
                    try:
                        cur.execute("SELECT RELEASE_LOCK(%s)", (lock_name,))
                    except (pymysql.err.MySQLError, OSError):
                        pass  # the lock goes with the connection anyway
        finally:
            try:
                conn.close()
            except Exception:
                pass

    def _apply_missing(self, conn, cur, target: int | None) -> list[Migration]:
        try:
            cur.execute(_BOOKKEEPING)
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self.db.translate(exc, "creating schema_migrations") from None
        applied = self._applied()
        self._refuse_inconsistent(applied)
        done = {a.version for a in applied}
        ran: list[Migration] = []
        for m in self.migrations:
            if m.version in done or (target is not None and m.version > target):
                continue
            self._apply_one(conn, cur, m)
            ran.append(m)
        return ran

    def _apply_one(self, conn, cur, m: Migration) -> None:
        statements = m.statements(self.registration_table)
        try:
            cur.execute(
                "INSERT INTO schema_migrations (version, name, checksum, state, started_at) "
                "VALUES (%s, %s, %s, 'started', UTC_TIMESTAMP(6))",
                (m.version, m.name, m.checksum),
            )
            conn.commit()
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self.db.translate(exc, f"recording migration {m.label} as started") from None
        for index, statement in enumerate(statements):
            try:
                cur.execute(statement)
                conn.commit()
            except (pymysql.err.MySQLError, OSError) as exc:
                detail = exc.args[1] if len(exc.args) > 1 else str(exc)
                if index == 0 and not is_dropped(exc):
                    self._forget_started(conn, cur, m)
                    raise StoreError(f"migration {m.label} failed at its first statement and changed nothing: "
                                     f"{detail}") from None
                raise StoreError(
                    f"migration {m.label} failed at statement {index + 1} of {len(statements)} ({detail}); "
                    f"statements before it were applied, so the schema is half-applied and later runs will "
                    f"refuse until it is settled by hand (see schema_migrations version {m.version})"
                ) from None
        try:
            cur.execute(
                "UPDATE schema_migrations SET state = 'done', finished_at = UTC_TIMESTAMP(6) WHERE version = %s",
                (m.version,),
            )
            conn.commit()
        except (pymysql.err.MySQLError, OSError) as exc:
            raise self.db.translate(exc, f"recording migration {m.label} as done") from None

    def _forget_started(self, conn, cur, m: Migration) -> None:
        try:
            cur.execute("DELETE FROM schema_migrations WHERE version = %s AND state = 'started'", (m.version,))
            conn.commit()
        except (pymysql.err.MySQLError, OSError):
            pass  # the 'started' row stays and the next run reports it: safe
