"""``Store``: the one object the rest of island_ssh uses to reach MySQL.

Each public method is one transaction (see db.py for timeouts, retries and thread safety);
the SQL lives in allocator.py, islands.py, registrations.py, locks.py and migrations.py.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import datetime, timezone
from typing import Any, Callable, Collection, Mapping, Sequence

from island_ssh.core.settings import DatabaseSettings, IslandSettings
from island_ssh.core.errors import IslandNotFound, StoreError
from island_ssh.store import applies, audit, islands, quotas, registrations
from island_ssh.store import clocks as clock_rows
from island_ssh.store import moves as batch_moves
from island_ssh.store.clock_methods import ClockMethods
from island_ssh.store.allocator import allocate_island, check_id_range, count_slots, ensure_slots
from island_ssh.store.db import Database, quote_identifier
from island_ssh.store.leases import LeaseStore
from island_ssh.store.idle import IdleStore
from island_ssh.store.code_versions import CodeVersionStore
from island_ssh.store.locks import MAX_LOCK_NAME, NamedLock, named_lock
from island_ssh.store.migrations import Migration, Migrator
from island_ssh.store.rows import EventRow, IslandRow, RegistrationResult, RegistrationRow, check_island_id

_OWN_TABLES = {"islands", "island_events", "schema_migrations", "island_clocks", "clock_changes",
               "clock_timelines", "island_idle_runs", "island_audit", "branch_code_versions"}


class Store(ClockMethods):
    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        lock_wait_timeout: int | None = None,
        pool_size: int = 16,
        migrations: list[Migration] | None = None,
    ) -> None:
        """No connection is made until the first call. Timeouts are seconds; each defaults to the
        settings' ``read_timeout``/``write_timeout``/``lock_wait_timeout`` when those fields
        exist, else 30, 30 and 10."""
        self.settings = settings
        if settings.registration_table in _OWN_TABLES:
            raise StoreError(f"database.registration_table must not be one of island_ssh's own tables "
                             f"({', '.join(sorted(_OWN_TABLES))})")
        self._registrations = quote_identifier(settings.registration_table, "database.registration_table")
        self.db = Database(
            settings,
            read_timeout=read_timeout or getattr(settings, "read_timeout", 30.0),
            write_timeout=write_timeout or getattr(settings, "write_timeout", 30.0),
            lock_wait_timeout=lock_wait_timeout or getattr(settings, "lock_wait_timeout", 10),
            pool_size=pool_size,
        )
        self.migrator = Migrator(self.db, settings.registration_table, migrations)
        self.leases = LeaseStore(self.db)  # island leases (store/leases.py, migrations/0006)
        self.idle = IdleStore(self.db)  # idle records (store/idle.py, migrations/0009)
        self.code_versions = CodeVersionStore(self.db)  # branches' current code (store/code_versions.py, 0010)
        self._ranges_ready: set[tuple[int, int]] = set()  # a cache of work done, not a lock

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------
    def migrate(self, target: int | None = None) -> list[int]:
        """Create the database if missing and apply missing migrations; return the versions applied."""
        return [m.version for m in self.migrator.migrate(target)]

    def check_schema(self) -> int:
        """Call at start-up: StoreError saying what to run unless the schema is current."""
        return self.migrator.check()

    def schema_version(self) -> int:
        return self.migrator.schema_version()

    @property
    def code_schema_version(self) -> int:
        return self.migrator.code_version

    # -- allocation and transitions --------------------------------------------------------
    def allocate(
        self,
        owner: str,
        branch: str,
        pod_name_fn: Callable[[int], str],
        overrides: Mapping[str, Any] | None,
        token_hash: str,
        settings: IslandSettings,
        owner_id: str | None = None,
        lease_seconds: float | None = None,
    ) -> IslandRow:
        """Hold the lowest free island id and its ports; the row starts in state ``allocated``.
        ``owner_id``: the owner's stable user id (None: the display name ``owner`` serves as id).
        ``lease_seconds``: its lease from now (None: none yet; see store/leases.py)."""
        id_range = check_id_range(settings)
        if id_range not in self._ranges_ready:
            self._ensure_slots(id_range)
        return self.db.transaction(
            lambda cur: allocate_island(cur, owner=owner, branch=branch, pod_name_fn=pod_name_fn,
                                        overrides=overrides, token_hash=token_hash, settings=settings,
                                        owner_id=owner_id, lease_seconds=lease_seconds),
            what="allocating an island id",
        )

    def _ensure_slots(self, id_range: tuple[int, int]) -> None:
        if self.db.transaction(lambda cur: count_slots(cur, *id_range), idempotent=True,
                               what="counting island id rows") == id_range[1] - id_range[0] + 1:
            self._ranges_ready.add(id_range)
            return
        # Creators take turns under a named lock held until their commit: two concurrent
        # INSERT IGNOREs would leave shared locks on existing rows that SKIP LOCKED then skips.
        lock_name = "island_ssh.slots." + hashlib.sha256(self.settings.name.encode()).hexdigest()[:32]
        with named_lock(self.db, lock_name, timeout=self.db.lock_wait_timeout) as acquired:
            if not acquired:
                raise StoreError(f"waited {self.db.lock_wait_timeout} s for another process to create the free "
                                 f"island id rows; retry, and look for a stuck island_ssh process if it repeats")
            self.db.transaction(lambda cur: ensure_slots(cur, *id_range), idempotent=True,
                                what="creating free island id rows")
        self._ranges_ready.add(id_range)

    def transition(
        self,
        island_id: int,
        generation: int,
        to_state: str,
        reason: str,
        message: str,
        node: str | None = None,
        host_ip: str | None = None,
        resource_version: int | None = None,
        expected_from: str | Collection[str] | None = None,
    ) -> bool:
        """Row and event in one transaction; False if refused (see islands.transition)."""
        check_island_id(island_id)
        return self.db.transaction(
            lambda cur: islands.transition(cur, self._registrations, island_id, generation, to_state, reason,
                                           message, node, host_ip, resource_version, expected_from),
            what=f"moving island {island_id} to {to_state}",
        )

    def transition_many(self, moves: Sequence[tuple[int, int]], to_state: str, reason: str, message: str,
                        expected_from: str | Collection[str] | None = None) -> list[bool]:
        """``transition`` for each (island_id, generation), all in ONE transaction (a launch batch)."""
        return self.transition_batch([islands.Move(island_id, generation, to_state, reason, message,
                                                   expected_from=expected_from)
                                      for island_id, generation in moves])

    def transition_batch(self, moves: Sequence[islands.Move]) -> list[bool]:
        """``transition`` for each move, in order, all in ONE transaction (one commit for a burst
        of watch events); each outcome as ``transition`` gives it. Several moves of one island
        see each other: the second finds the state the first left."""
        for move in moves:
            check_island_id(move.island_id)
        if not moves:
            return []
        states = sorted({m.to_state for m in moves})
        return self.db.transaction(
            lambda cur: batch_moves.transition_batch(cur, self._registrations, moves),
            what=f"moving {len(moves)} islands to {'/'.join(states)}",
        )

    def restart(self, island_id: int, generation: int, token_hash: str) -> IslandRow:
        """Next generation of the same island (same id and ports), state ``allocated``."""
        check_island_id(island_id)
        row = self.db.transaction(
            lambda cur: islands.restart(cur, self._registrations, island_id, generation, token_hash),
            what=f"restarting island {island_id}",
        )
        if row is None:
            raise IslandNotFound(f"island {island_id} changed or was deleted meanwhile; look again", island_id=island_id)
        return row

    # -- the durable launch queue (store/applies.py) ---------------------------------------
    def queue_applies(self, moves: Sequence[tuple[int, int]], applier: str, reason: str = "Applying",
                      message: str = "manifest queued for kubectl apply") -> list[bool]:
        """``allocated`` -> ``applying`` for each (island_id, generation), queued under the
        named lock ``applier`` (its full name), all in ONE transaction (a launch batch)."""
        for island_id, _ in moves:
            check_island_id(island_id)
        return self.db.transaction(
            lambda cur: applies.queue(cur, self._registrations, moves, applier, reason, message),
            what=f"queueing {len(moves)} islands for kubectl apply")

    def start_applies(self, moves: Sequence[tuple[int, int]], applier: str) -> set[tuple[int, int]]:
        """Take for kubectl the (island_id, generation)s still applying and queued by ``applier``."""
        return self.db.transaction(lambda cur: applies.start(cur, moves, applier),
                                   what=f"taking {len(moves)} queued islands for kubectl apply")

    def orphaned_applies(self) -> Sequence[IslandRow]:
        """Rows applying whose queueing process is gone: accepted, never applied."""
        return self._read(applies.orphaned)

    def adopt_apply(self, island_id: int, generation: int, token_hash: str, applier: str, reason: str,
                    message: str, unqueued_ok: bool = False) -> IslandRow | None:
        """Queue an orphaned (or, with ``unqueued_ok``, an unqueued) row again under ``applier``
        with a new token hash; None when it is not ours to take (see applies.adopt)."""
        check_island_id(island_id)
        return self.db.transaction(
            lambda cur: applies.adopt(cur, island_id, generation, token_hash, applier, reason, message,
                                      unqueued_ok),
            what=f"queueing island {island_id} for kubectl apply again")

    def restart_queued(self, island_id: int, generation: int, token_hash: str, applier: str) -> IslandRow:
        """``restart`` with the new generation's apply queued under ``applier`` in the same commit."""
        check_island_id(island_id)
        row = self.db.transaction(
            lambda cur: _carrying_clock(cur, island_id, generation, applies.restart_queued(
                cur, self._registrations, island_id, generation, token_hash, applier)),
            what=f"restarting island {island_id}")
        if row is None:
            raise IslandNotFound(f"island {island_id} changed or was deleted meanwhile; look again", island_id=island_id)
        return row

    def release(self, island_id: int, generation: int, reason: str, message: str = "") -> bool:
        """The pod is confirmed gone: state ``deleted``, the id and ports are free again."""
        return self.transition(island_id, generation, "deleted", reason, message)

    def set_clock(self, island_id: int, generation: int, offset_seconds: float | None, setting_text: str) -> bool:
        check_island_id(island_id)
        return self.db.transaction(
            lambda cur: islands.set_clock(cur, island_id, generation, offset_seconds, setting_text),
            what=f"recording island {island_id}'s clock",
        )

    def update_overrides(self, island_id: int, generation: int, changes: Mapping[str, Any]) -> bool:
        check_island_id(island_id)
        return self.db.transaction(
            lambda cur: islands.update_overrides(cur, island_id, generation, changes),
            idempotent=True, what=f"updating island {island_id}'s overrides",
        )

    # -- reads -----------------------------------------------------------------------------
    def get(self, island_id: int) -> IslandRow | None:
        check_island_id(island_id)
        return self._read(lambda cur: islands.get(cur, island_id))

    def get_many(self, island_ids: Sequence[int]) -> list[IslandRow | None]:
        """``get`` of each id, in one read transaction."""
        for island_id in island_ids:
            check_island_id(island_id)
        return self._read(lambda cur: batch_moves.get_many(cur, island_ids))

    def list(self, owner: str | None = None, branch: str | None = None,
             states: Collection[str] | None = None, owner_id: str | None = None) -> Sequence[IslandRow]:
        """``owner`` filters by display name (shared by namesakes), ``owner_id`` by user id."""
        return self._read(lambda cur: islands.list_islands(cur, owner, branch, states, owner_id=owner_id))

    def list_page(self, owner: str | None = None, branch: str | None = None, states: Collection[str] | None = None,
                  owner_id: str | None = None, include_deleted: bool = True, limit: int | None = None,
                  offset: int = 0) -> tuple[list[IslandRow], int, dict[int, RegistrationRow]]:
        """(rows of the page, how many match in all, island id -> registration of the page's
        islands): three queries in one read transaction, whatever the page's size."""
        def read(cur):
            rows, total = islands.list_page(cur, owner, branch, states, owner_id, include_deleted, limit, offset)
            live = [r.island_id for r in rows if r.state != "deleted"]
            return rows, total, registrations.registrations_of(cur, self._registrations, live)
        return self._read(read)

    def active(self) -> Sequence[IslandRow]:
        return self._read(islands.active)

    def waiting_created_before(self, states: Collection[str], before: float) -> Sequence[IslandRow]:
        """Rows in one of ``states`` created at or before the epoch time ``before`` (one query)."""
        cutoff = datetime.fromtimestamp(before, timezone.utc).replace(tzinfo=None)
        return self._read(lambda cur: batch_moves.waiting_created_before(cur, sorted(states), cutoff))

    def events(self, island_id: int, generation: int | None = None, limit: int = 200) -> Sequence[EventRow]:
        check_island_id(island_id)
        return self._read(lambda cur: islands.events(cur, island_id, generation, limit))

    def events_since(self, last_event_id: int | None, limit: int = 500) -> Sequence[EventRow]:
        """Events of every island with an id above ``last_event_id``, oldest first (None: the
        latest ``limit``). Ids are assigned at insert, not commit: a reader must allow for a
        lower id appearing late (island_ssh.service.feed does)."""
        return self._read(lambda cur: islands.events_since(cur, last_event_id, limit))

    # -- the audit log (store/audit.py) ----------------------------------------------------
    def record_audit(self, actor_kind: str, actor_id: str, actor_name: str, action: str,
                     island_id: int | None, generation: int | None, detail: str, owner_id: str | None = None) -> int:
        """Append one audit entry (service.audit.AuditLog.record); its id."""
        return self.db.transaction(
            lambda cur: audit.append(cur, actor_kind, actor_id, actor_name, action, island_id, generation, detail,
                                     owner_id),
            what=f"recording {action} in the audit log")

    def record_audits(self, entries) -> None:
        """Append many audit entries ((actor_kind, actor_id, actor_name, action, island_id,
        generation, detail, owner_id) tuples) in ONE transaction (store.audit.append_many)."""
        if entries:
            self.db.transaction(lambda cur: audit.append_many(cur, entries),
                                what=f"recording {len(entries)} entries in the audit log")

    def owner_islands(self, owner_id: str) -> list[tuple[int, str | None]]:
        """(island_id, memory override) of the owner's islands not deleted (store/quotas.py)."""
        return self._read(lambda cur: quotas.owner_islands(cur, owner_id))

    def audit_entries(self, **filters):
        """Audit entries newest first (see store.audit.entries for the filters)."""
        return self.db.transaction(lambda cur: audit.entries(cur, **filters), idempotent=True,
                                   what="reading the audit log")

    def _read(self, body):
        return self.db.transaction(body, idempotent=True, what="reading islands")

    # -- registrations ---------------------------------------------------------------------
    def register(self, island_id: int, token: str, node_ip: str, ports, pod_name: str,
                 code_version: str | None = None) -> RegistrationResult:
        """Check the pod's token and upsert its registration (raises PermissionDenied/IslandNotFound);
        ``code_version`` (checked, core.code_version) is stored on the island's row for its generation."""
        check_island_id(island_id)
        return self.db.transaction(
            lambda cur: registrations.register(cur, self._registrations, island_id, token, node_ip, ports, pod_name,
                                               code_version),
            what=f"registering island {island_id}",
        )

    def registration(self, island_id: int) -> RegistrationRow | None:
        check_island_id(island_id)
        return self._read(lambda cur: registrations.registration(cur, self._registrations, island_id))

    def delete_registration(self, island_id: int) -> bool:
        check_island_id(island_id)
        return self.db.transaction(
            lambda cur: registrations.delete_registration(cur, self._registrations, island_id),
            idempotent=True, what=f"deleting island {island_id}'s registration",
        )

    def orphan_registrations(self) -> Sequence[RegistrationRow]:
        return self._read(lambda cur: registrations.orphan_registrations(cur, self._registrations))

    # -- locks -----------------------------------------------------------------------------
    def named_lock(self, name: str, timeout: float = 0) -> contextlib.AbstractContextManager[bool]:
        """``with store.named_lock("island_ssh.kube.tracker") as acquired:`` (True/False, never waits at 0).

        Scoped to this database: the same name on another database of the same server (the demo
        beside a test run) is another lock."""
        return named_lock(self.db, self.lock_name(name), timeout)

    def lock(self, name: str) -> NamedLock:
        """A NamedLock to acquire()/still_held()/release() by hand, for long holders."""
        return NamedLock(self.db, self.lock_name(name))

    def lock_name(self, name: str) -> str:
        """The server-wide GET_LOCK name for ``name`` in this database (at most 64 characters)."""
        if not isinstance(name, str) or not name or len(name) > MAX_LOCK_NAME:
            raise StoreError(f"lock name {name!r}: must be 1 to {MAX_LOCK_NAME} characters")
        scoped = f"{self.settings.name}/{name}"
        if len(scoped) <= MAX_LOCK_NAME:
            return scoped
        digest = hashlib.sha256(scoped.encode("utf-8")).hexdigest()[:16]
        return f"{scoped[:MAX_LOCK_NAME - 17]}~{digest}"


def _carrying_clock(cur, island_id: int, generation: int, row):
    """A restart's new generation keeps the island's clock and timelines, in the restart's commit."""
    if row is not None:
        clock_rows.carry(cur, island_id, generation, row.generation)
    return row
