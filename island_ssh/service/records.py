"""The use cases that need MySQL only: reading islands and their events, and the schema.

``island-ssh list``, ``show``, ``events`` and ``migrate`` must work while the master is down
(and ``migrate`` before any island exists), so they get this store-only object instead of the
full runtime, which opens the SSH connection. Built by ``wiring.build_records``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class SchemaMigration:
    """What ``migrate`` did: the schema version before and after, and how many steps it applied."""
    before: int
    after: int
    applied: int


class IslandRecords:
    def __init__(self, store) -> None:
        self.store = store

    def list(self, owner: str | None = None, branch: str | None = None, states: Collection[str] | None = None,
             owner_id: str | None = None):
        return self.store.list(owner=owner, branch=branch, states=states, owner_id=owner_id)

    def list_page(self, **filters):
        """One page of islands with the total (service/listing.py; ``island-ssh list --limit``)."""
        from island_ssh.service.listing import list_page  # noqa: PLC0415

        return list_page(self.store, **filters)

    def find(self, island_id: int):
        """The island's row, or None when there is no such island (the face words the error)."""
        return self.store.get(island_id)

    def branch_versions(self):
        """branch -> core.code_version.BranchVersion as last read (no SSH: what is stored)."""
        from island_ssh.core.code_version import branch_version  # noqa: PLC0415

        by_branch: dict = {}
        for reading in self.store.code_versions.readings():
            by_branch.setdefault(reading.branch, []).append(reading)
        return {b: branch_version(b, rs) for b, rs in by_branch.items()}

    def events(self, island_id: int, generation: int | None = None):
        """The island's latest state transitions (of one generation if given), oldest first."""
        return self.store.events(island_id, generation=generation)

    def migrate_schema(self) -> SchemaMigration:
        """Create the database if missing and apply the migrations it lacks."""
        before = self.store.schema_version()
        applied = self.store.migrate()
        return SchemaMigration(before=before, after=self.store.schema_version(), applied=len(applied))

    def close(self) -> None:
        self.store.close()
