"""One page of the islands list, for the faces (the islands page, GET /api/islands, ``island-ssh list``).

At 1,000 islands a face must not read every row, nor ask the store once per island for its
registration: ``list_page`` reads one page, the number of matches, and the page's registrations in
one read transaction (three queries, whatever the page's size; issue 16).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from island_ssh.core.errors import InvalidInput

MAX_PAGE = 1000  # islands per page at most (the whole default id range fits on one)


@dataclass(frozen=True)
class IslandPage:
    rows: list
    total: int  # how many islands match the filters in all
    limit: int | None  # None: every match from offset on
    offset: int
    registrations: dict = field(default_factory=dict)  # island id -> RegistrationRow (live islands only)

    @property
    def next_offset(self) -> int | None:
        """Where the next page starts, or None on the last page."""
        end = self.offset + len(self.rows)
        return end if self.limit is not None and end < self.total else None


def list_page(store, owner: str | None = None, branch: str | None = None, states: Collection[str] | None = None,
              owner_id: str | None = None, include_deleted: bool = False, limit: int | None = None,
              offset: int = 0) -> IslandPage:
    """Islands oldest id first; deleted ones only when asked (``include_deleted``) or named in
    ``states``. ``limit`` (1..MAX_PAGE, None: all) islands from ``offset`` (0-based)."""
    if limit is not None and not 0 < limit <= MAX_PAGE:
        raise InvalidInput(f"limit: expected 1 to {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise InvalidInput(f"offset: expected 0 or more, got {offset}")
    rows, total, registrations = store.list_page(owner=owner, branch=branch, states=states, owner_id=owner_id,
                                                 include_deleted=include_deleted, limit=limit, offset=offset)
    return IslandPage(rows=list(rows), total=total, limit=limit, offset=offset, registrations=registrations)
