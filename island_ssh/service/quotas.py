"""Quotas at launch (issue 14): decided in MySQL, under a per-owner named lock, before any id.

``QuotaService.allocating(requests, owner_ids, by)`` is the launch's critical section: for each
owner of the batch (in a fixed order, so two bulk launches cannot deadlock) it takes the MySQL
named lock ``quota/<hash of the owner id>``, reads what the owner holds from the islands table,
and decides the whole batch with core/quota.py. Over quota: QuotaExceeded with the numbers, and
no id was taken. Within: the caller allocates (each allocation commits) while the locks are held,
so another web process launching for the same owner waits and then counts these islands too.
Without any limit configured (the default) nothing is locked or read.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from typing import Iterator, Sequence

from island_ssh.core import quota as q
from island_ssh.core.audit import Actor
from island_ssh.core.errors import QuotaExceeded, StoreError
from island_ssh.core.identity import User
from island_ssh.core.validate import memory_bytes


def _lock_name(owner_id: str) -> str:
    return "quota/" + hashlib.sha256(owner_id.encode("utf-8")).hexdigest()[:32]


class QuotaService:
    def __init__(self, settings, store, audit=None) -> None:
        self.settings = settings
        self.quotas = settings.quotas
        self.store = store
        self.audit = audit

    @property
    def configured(self) -> bool:
        qs = self.quotas
        return (qs.max_islands is not None or qs.max_memory not in (None, "") or bool(qs.users)
                or bool(qs.groups))

    # -- reading -------------------------------------------------------------------------------
    def _is_admin(self, owner_id: str, by: User | None) -> bool:
        return owner_id in self.settings.web.admins or (
            by is not None and by.id == owner_id and bool(by.is_admin))

    def limits(self, owner_id: str, by: User | None = None) -> q.Limits:
        """The owner's limits; groups (and the host app's admin flag) are known when ``by`` is
        the owner (the launching user); for someone else only quotas.users and the default apply."""
        groups = by.groups if by is not None and by.id == owner_id else ()
        return q.limits_for(self.quotas, owner_id, groups, self._is_admin(owner_id, by))

    def usage(self, owner_id: str) -> q.Usage:
        default = memory_bytes(self.settings.islands.memory_request)
        held = self.store.owner_islands(owner_id)
        total = 0
        for _, memory in held:
            try:
                total += memory_bytes(memory) if memory else default
            except Exception:  # noqa: BLE001 -- a row from an older validation: count the default
                total += default
        return q.Usage(len(held), total)

    def view(self, owner_id: str, owner_name: str = "", by: User | None = None) -> q.QuotaView:
        """What the owner holds and may hold (GET /api/quota, `island-ssh quota`, the page)."""
        return q.QuotaView(owner_id, owner_name or owner_id, self.limits(owner_id, by), self.usage(owner_id))

    def view_of(self, user: User) -> q.QuotaView:
        return self.view(user.id, user.name, by=user)

    # -- the launch's critical section ----------------------------------------------------------
    @contextlib.contextmanager
    def allocating(self, checked: Sequence, owner_ids: Sequence[str], by: User | None = None) -> Iterator[None]:
        """Hold each owner's quota lock while the caller allocates ``checked`` (validated launch
        requests, with their ``owner`` names and ``memory_request``); QuotaExceeded first if the
        batch does not fit as a whole."""
        if not self.configured:
            yield
            return
        wanted: "OrderedDict[str, list]" = OrderedDict()
        names: dict[str, str] = {}
        for req, owner_id in zip(checked, owner_ids):
            wanted.setdefault(owner_id, []).append(memory_bytes(req.memory_request))
            names.setdefault(owner_id, req.owner)
        limits = {o: self.limits(o, by) for o in wanted}
        locks = []
        try:
            for owner_id in sorted(o for o in wanted if not limits[o].unlimited):
                lock = self.store.lock(_lock_name(owner_id))
                if not lock.acquire(self.quotas.lock_wait):
                    raise StoreError(f"waited {self.quotas.lock_wait:g} s for another launch of {names[owner_id]}'s "
                                     f"islands to finish (quotas.lock_wait); try again")
                locks.append(lock)
                view = q.QuotaView(owner_id, names[owner_id], limits[owner_id], self.usage(owner_id))
                problem = q.decide(view, wanted[owner_id])
                if problem:
                    if self.audit is not None:
                        self.audit.record(Actor.of(by), "quota-refused", None, None, problem, owner_id=owner_id)
                    raise QuotaExceeded(problem)
            yield
        finally:
            for lock in reversed(locks):
                lock.release()
