"""Nothing accepted is lost: the launch queue lives in MySQL, not in a worker thread.

A REST launch answers 201 once its rows are ``applying``; the apply itself waits on the
service's group-commit worker. Each row so queued names, in ``islands.applier``, a MySQL named
lock its process holds for as long as it lives (``ApplierLease``). The server drops that lock
when the process dies, SIGKILL included, so "applying, and its applier's lock is free" means
exactly "accepted, and nobody will apply it": ``resume_applies`` applies those again, at the
service's start (wiring) and in ``island-ssh recover``, instead of releasing them.

Re-rendering needs what the launch rendered from: owner, branch, memory, image, env and start
time are all in the row (owner/branch columns, overrides JSON). The registration token is not:
only its hash is stored, on purpose (the table is read by more than the service). No pod ever
saw the old token (the apply never ran), so a fresh token is minted and its hash replaces the
old one in the same commit that takes the row over; storing tokens in clear would have been the
alternative, and it would put every island's credential in every database dump.

The re-apply goes through the service's own render (``_render``) and apply (``_apply_batch``)
path, so whatever a launch applies (a Secret beside the pod, labels) a re-apply applies too.
An island that can no longer be applied (its image left the allow-list, rendering refuses it)
is released with that reason in its history; nothing else is released here.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass

from island_ssh.core.errors import IslandError, StoreError
from island_ssh.core.names import GENERATION_LABEL
from island_ssh.core.tokens import hash_token
from island_ssh.core.validate import validate_launch
from island_ssh.store import new_token

log = logging.getLogger(__name__)

LEASE_PREFIX = "island_ssh.applier."


class ApplierLease:
    """This process's named lock, taken at its first launch and held until close().

    Takes a new one (a new name) when MySQL dropped it: rows queued under the lost name are
    then anyone's to resume. Correctness never rests on noticing that soon: taking a row for
    kubectl (``start_applies``: only if still queued under this process's name) and taking it
    over (``adopt_apply``) are each one conditional UPDATE, so exactly one of them wins. The
    check is therefore made at most every ``CHECK_EVERY`` seconds, not once per launch."""

    CHECK_EVERY = 10.0

    def __init__(self, store, clock=time.monotonic) -> None:
        self._store = store
        self._lock = None
        self._mutex = threading.Lock()
        self._clock = clock
        self._checked = 0.0

    def name(self) -> str:
        with self._mutex:
            due = self._clock() - self._checked >= self.CHECK_EVERY
            if self._lock is not None and due and not self._lock.still_held():
                log.warning("lost the applier lock %s (MySQL restarted?); taking a new one", self._lock.name)
                self._lock.release()
                self._lock = None
            if self._lock is None:
                lock = self._store.lock(LEASE_PREFIX + secrets.token_hex(8))
                if not lock.acquire(timeout=0):
                    raise StoreError(f"could not take the applier lock {lock.name}; retry")
                self._lock = lock
            if due:
                self._checked = self._clock()
            return self._lock.name

    def current(self) -> str | None:
        """The name held now, without taking one (None before the first launch)."""
        with self._mutex:
            return self._lock.name if self._lock is not None else None

    def drop(self) -> None:
        """Give the lock up: every row still queued under it becomes resumable elsewhere."""
        with self._mutex:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    close = drop


@dataclass(frozen=True)
class Resumed:
    island_id: int
    status: str
    """done (applied again) | released (cannot be applied) | skipped (not ours to take) | failed"""
    detail: str = ""


def resume_applies(service, targets: list[tuple[int, int]] | None = None, unqueued_ok: bool = False,
                   reason: str = "Reapplied") -> list[Resumed]:
    """Apply again the accepted launches (and restarts) nobody will apply.

    ``targets`` None: every row the store reports orphaned (start-up). Otherwise those
    (island_id, generation)s (recover's plan); ``unqueued_ok`` lets it take rows no process
    queued (an apply that was cut, past recover.stuck_after). Each row is taken over atomically
    (``store.adopt_apply``): a live process's queue, or another resumer, wins and it is skipped."""
    store, kubectl = service.store, service.kubectl
    if targets is None:
        rows = list(store.orphaned_applies())
    else:
        rows = [r for r, (_, gen) in zip(store.get_many([i for i, _ in targets]), targets)
                if r is not None and r.generation == gen]
    if not rows:
        return []
    present = {p["metadata"]["name"]: p for p in kubectl.pods().get("items") or []}
    applier = service.lease.name()
    outcomes: dict[int, Resumed] = {}
    batch = []
    for row in rows:
        pod = present.get(row.pod_name)
        labels = ((pod or {}).get("metadata") or {}).get("labels") or {}
        if pod is not None and labels.get(GENERATION_LABEL) == str(row.generation):
            outcomes[row.island_id] = Resumed(row.island_id, "skipped", "its pod exists; the tracker follows it")
            continue
        token = new_token()
        taken = store.adopt_apply(row.island_id, row.generation, hash_token(token), applier, reason,
                                  "accepted but never applied (its service process stopped, or its apply "
                                  "was cut); applied again", unqueued_ok=unqueued_ok)
        if taken is None:
            outcomes[row.island_id] = Resumed(row.island_id, "skipped", "another process holds or changed it")
            continue
        try:
            if pod is not None:
                # the old generation a restart did not get to delete: the name must be free again
                kubectl.delete_pod(row.pod_name, wait=True, timeout=120.0)
            req = validate_launch(service._request_fields(taken), service.islands)
            doc = service._render(taken, req, token)
        except IslandError as exc:
            if exc.http_status >= 500:
                # not a refusal of the island (SSH, MySQL, kubectl, our config): un-queue it, so
                # the next recover run (past stuck_after) tries again, rather than leave it queued
                # under this live process, where nobody would look for it
                store.start_applies([(taken.island_id, taken.generation)], applier)
                outcomes[row.island_id] = Resumed(row.island_id, "failed", exc.message)
                continue
            store.transition(taken.island_id, taken.generation, "deleted", "ReapplyRefused",
                             f"could not be applied again: {exc.message}", expected_from="applying")
            outcomes[row.island_id] = Resumed(row.island_id, "released", exc.message)
            continue
        batch.append((taken, doc))
    if batch:
        try:
            service._applies.submit(batch)
            status, detail = "done", ""
        except IslandError as exc:
            status, detail = "failed", exc.message
        for taken, _ in batch:
            outcomes[taken.island_id] = Resumed(taken.island_id, status, detail)
    done = [o for o in outcomes.values() if o.status != "skipped"]
    if done:
        log.info("resumed %d accepted applies: %s", len(done),
                 ", ".join(f"{o.island_id}:{o.status}" for o in done))
    return [outcomes[r.island_id] for r in rows]


def resume_in_background(service) -> threading.Thread:
    """At a long-running service's start: resume without holding the start up (SSH may be slow
    to connect); a failure is logged and left for the next start or recover run."""
    def run() -> None:
        try:
            resume_applies(service)
        except IslandError as exc:
            log.warning("resuming accepted applies at start failed: %s; `island-ssh recover` retries", exc)

    thread = threading.Thread(target=run, name="resume-applies", daemon=True)
    thread.start()
    return thread
