"""The audit log: who launched, deleted, restarted, ... which island (issue 14).

``AuditLog(store).record(actor, action, ...)`` is called by every use case after (or as) it acts.
It never raises into the caller's action: an entry that cannot be written (the database
restarting, an old schema) is a warning in the log, and the action stands.

Who reads what (``query_for``): an admin (and the operator: the CLI) every entry; any other user
the entries about islands they owned when the entry was written, and the entries they caused
themselves -- so a tester can always answer "who deleted MY island?" (even after its id went to
someone else), and never reads who did what to other people's islands.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from island_ssh.core.audit import (Actor, AuditEntry, AuditFilter, LIMIT_DEFAULT, check_action, clip_detail,
                                   who_deleted, who_deleted_line)

log = logging.getLogger(__name__)

__all__ = ["Actor", "AuditLog", "utc_now"]


class AuditLog:
    def __init__(self, store, admins=()) -> None:
        self.store = store
        self.admins = frozenset(admins)

    # -- writing -------------------------------------------------------------------------------
    def record(self, actor: Actor, action: str, island_id: int | None = None,
               generation: int | None = None, detail: str = "", owner_id: str | None = None) -> None:
        """Write one entry; never raises (a failure is logged as a warning). ``owner_id``: the
        island's owner (default: read from its row as the entry is written)."""
        try:
            if not isinstance(actor, Actor):
                actor = Actor.of(actor)
            check_action(action)
            writer = getattr(self.store, "record_audit", None)
            if writer is None:  # a stand-in store (unit tests): nothing to write to
                log.debug("audit (not stored): %s %s island %s", actor.label(), action, island_id)
                return
            writer(actor.kind, actor.id, actor.name, action, island_id, generation, clip_detail(detail),
                   owner_id=owner_id)
        except Exception as exc:  # noqa: BLE001 -- the action stands whatever the audit log does
            label = actor.label() if isinstance(actor, Actor) else repr(actor)
            log.warning("audit: could not record %s of island %s by %s: %s", action, island_id, label, exc)

    def record_many(self, actor: Actor, entries) -> None:
        """``record`` of each (action, island_id, generation, detail) by one actor, in one write
        when the store can (a recover run's thousands); never raises, as ``record``."""
        writer = getattr(self.store, "record_audits", None)
        if writer is None:
            for action, island_id, generation, detail in entries:
                self.record(actor, action, island_id, generation, detail)
            return
        try:
            if not isinstance(actor, Actor):
                actor = Actor.of(actor)
            rows = []
            for action, island_id, generation, detail in entries:
                check_action(action)
                rows.append((actor.kind, actor.id, actor.name, action, island_id, generation,
                             clip_detail(detail), None))
            writer(rows)
        except Exception as exc:  # noqa: BLE001 -- the actions stand whatever the audit log does
            label = actor.label() if isinstance(actor, Actor) else repr(actor)
            log.warning("audit: could not record %d entries by %s: %s", len(entries), label, exc)

    def record_rows(self, actor: Actor, action: str, rows, detail: str | None = None) -> None:
        """One entry per island row (a bulk launch); ``detail`` None: the row's owner and branch."""
        for row in rows:
            owner_id = getattr(row, "owner_id", None) or None
            text = detail if detail is not None else (
                f"for {row.owner}" + (f" ({owner_id})" if owner_id and owner_id != row.owner else "")
                + f", branch {row.branch}, pod {row.pod_name}")
            self.record(actor, action, row.island_id, row.generation, text, owner_id=owner_id)

    # -- reading -------------------------------------------------------------------------------
    def query(self, island_id: int | None = None, actor: str | None = None, action: str | None = None,
              since: datetime | None = None, limit: int = LIMIT_DEFAULT, visible_to: str | None = None) -> list[dict]:
        """Entries newest first, as dicts (AuditEntry.as_dict). ``actor``: a user id, or a job's
        kind / "operator". ``visible_to``: a non-admin's user id (see the module docstring)."""
        return [e.as_dict() for e in self.entries(island_id, actor, action, since, limit, visible_to)]

    def entries(self, island_id=None, actor=None, action=None, since=None, limit=LIMIT_DEFAULT,
                visible_to=None) -> list[AuditEntry]:
        return self.store.audit_entries(island_id=island_id, actor=actor, action=action, since=since,
                                        limit=limit, visible_to=visible_to)

    def sees_all(self, user) -> bool:
        return user is None or bool(getattr(user, "is_admin", False)) or getattr(user, "id", None) in self.admins

    def query_for(self, user, flt: AuditFilter) -> list[dict]:
        """``flt`` as ``user`` may read it. ``user`` None: the operator (everything)."""
        visible_to = None if self.sees_all(user) else user.id
        return self.query(flt.island_id, flt.actor, flt.action, flt.since, flt.limit, visible_to)

    def search(self, user=None, island=None, actor=None, action=None, since=None, limit=None) -> list[dict]:
        """The faces' raw filter values (query string, CLI options), checked (InvalidField naming
        the field), read as ``user`` may (None: the operator)."""
        flt = AuditFilter.parse(island, actor, action, since, limit, now=utc_now())
        return self.query_for(user, flt)

    def who_deleted(self, island_id: int, user=None) -> tuple[AuditEntry | None, str]:
        """The entry that ended the island last, and one line saying it ("island 12 was deleted
        by 王伟 (u-1001) at ..."); ``user`` as in query_for."""
        visible_to = None if self.sees_all(user) else user.id
        entry = who_deleted(self.entries(island_id=island_id, limit=1000, visible_to=visible_to))
        return entry, who_deleted_line(island_id, entry)


def utc_now() -> datetime:
    """For the faces' ``since`` parsing (the core takes ``now`` as an argument)."""
    return datetime.now(timezone.utc)
