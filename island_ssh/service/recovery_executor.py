"""Carry out recovery's actions (service/recovery.py plans them with core.recovery_plan).

Each action is conditional on the state it was planned from, so a tracker or a launch acting
meanwhile wins and the action is reported as skipped, not forced. At scale (a recover run after a
long tracker outage may find thousands of rows to move) the store is asked in batches: the pods
to delete in ONE kubectl call, the row moves (sync, lost, release, release_gone, release_stuck,
expire) in ``store.transition_batch`` chunks of ``MOVE_CHUNK`` (one transaction each, every move
judged as ``store.transition`` judges it: same outcome), and the audit entries in one write.
A chunk whose transaction fails is done again one move at a time, so a failure stays the one
action's.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from island_ssh.core.settings import Settings
from island_ssh.core.errors import AllocationError, IslandError
from island_ssh.kube.kubectl import Kubectl
from island_ssh.core.names import CHANGEABLE_STATES, GENERATION_LABEL
from island_ssh.core.recovery_plan import Action
from island_ssh.core.token_secret import token_secret_name
from island_ssh.core.tokens import hash_token
from island_ssh.store import Move, new_token
from island_ssh.service import clock_lifecycle
from island_ssh.service.audit import Actor

log = logging.getLogger(__name__)

DELETE_KINDS = ("expire", "lease_expired", "delete_orphan")
MOVE_KINDS = frozenset({"sync", "lost", "release", "release_gone", "release_stuck", "expire"})
"""Actions that are one row move and nothing else: stored in batches."""
MOVE_CHUNK = 250
"""Moves per transaction: row locks held for one chunk's time, not the whole run's."""


@dataclass
class Outcome:
    action: Action
    status: str
    """planned (dry run) | done | reported | skipped (changed meanwhile) | failed"""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**self.action.as_dict(), "status": self.status, "detail": self.detail}


class Executor:
    def __init__(self, settings: Settings, store, kubectl: Kubectl, service) -> None:
        self.settings = settings
        self.store = store
        self.kubectl = kubectl
        self.service = service

    def run(self, actions: list[Action]) -> list[Outcome]:
        # an expired lease is claimed before its pod goes, as the lease reaper does: the row says
        # terminating/LeaseExpired, so the tracker's DELETED keeps that reason, whoever is first
        unclaimed = {id(a): Outcome(a, "skipped", "changed meanwhile; left for the next run")
                     for a in actions if a.kind == "lease_expired" and not self._claim(a)}
        actions_left = [a for a in actions if id(a) not in unclaimed]
        failed_deletes = self._delete_pods([a.pod for a in actions_left if a.kind in DELETE_KINDS])
        resumed = self._reapply([a for a in actions if a.kind == "reapply"])
        moved = self._moves([(i, a) for i, a in enumerate(actions) if a.kind in MOVE_KINDS
                             and not (a.kind in DELETE_KINDS and a.pod in failed_deletes)])
        outcomes = []
        for i, action in enumerate(actions):
            if id(action) in unclaimed:
                outcomes.append(unclaimed[id(action)])
                continue
            if action.kind == "reapply":
                outcomes.append(resumed[action.island_id])
                continue
            if i in moved:
                outcomes.append(moved[i])
                continue
            try:
                if action.kind in DELETE_KINDS and action.pod in failed_deletes:
                    outcomes.append(Outcome(action, "failed", failed_deletes[action.pod]))
                    continue
                outcomes.append(self._one(action))
            except IslandError as exc:
                outcomes.append(Outcome(action, "failed", _text(exc)))
        self._audit(outcomes)
        return outcomes

    def _moves(self, indexed: list[tuple[int, Action]]) -> dict[int, Outcome]:
        """The actions that are one row move each, stored MOVE_CHUNK to a transaction; {index: Outcome}."""
        outcomes: dict[int, Outcome] = {}
        for start in range(0, len(indexed), MOVE_CHUNK):
            chunk = indexed[start:start + MOVE_CHUNK]
            moves = [_move(a) for _, a in chunk]
            try:
                oks = self.store.transition_batch(moves)
            except IslandError:  # the whole chunk rolled back: once more one by one, each failure its own
                oks = []
                for move in moves:
                    try:
                        oks.append(self.store.transition(*move))
                    except IslandError as exc:
                        oks.append(exc)
            for (i, a), ok in zip(chunk, oks):
                outcomes[i] = Outcome(a, "failed", _text(ok)) if isinstance(ok, IslandError) else self._done(a, ok)
        return outcomes

    def _audit(self, outcomes: list[Outcome]) -> None:
        """Each repair that changed an island, as ``recover-<kind>`` by the recover job (a lease
        expiry is recorded by the lease service itself, as ``expire``), in one write."""
        audit = getattr(self.service, "audit", None)
        if audit is None:
            return
        entries = [(f"recover-{o.action.kind.replace('_', '-')}", o.action.island_id, o.action.generation,
                    f"{o.action.reason}: {o.action.message}"[:500]) for o in outcomes
                   if o.status == "done" and o.action.island_id is not None
                   and o.action.kind not in ("lease_expired", "report_orphan")]
        if entries:
            audit.record_many(Actor.system("recover"), entries)

    def _delete_pods(self, names: list) -> dict[str, str]:
        """Delete them all, waiting for them to be gone (their host ports are then free for the
        released ids): a few kubectl at once, a few pods each (Kubectl.delete_pods); the pods of a
        failed kubectl again one by one. Returns {pod: error} of failures."""
        failed = self.kubectl.delete_pods(names, wait=True, timeout=120.0)
        failures = {}
        for name in sorted(failed):
            try:
                self.kubectl.delete_pod(name, wait=True, timeout=120.0)
            except IslandError as exc:
                failures[name] = exc.message
        return failures

    def _reapply(self, actions: list[Action]) -> dict[int, Outcome]:
        """Every reapply in ONE resume (one pod listing, one kubectl apply): the same path a
        launch takes (service/resume.py). Each row is taken over atomically, or skipped."""
        if not actions:
            return {}
        try:
            results = {r.island_id: r for r in self.service.resume_applies(
                [(a.island_id, a.generation) for a in actions], unqueued_ok=True)}
        except IslandError as exc:
            return {a.island_id: Outcome(a, "failed", _text(exc)) for a in actions}
        outcomes = {}
        for a in actions:
            r = results.get(a.island_id)
            if r is None:
                outcomes[a.island_id] = Outcome(a, "skipped", "changed meanwhile; left for the next run")
            elif r.status == "released":
                outcomes[a.island_id] = Outcome(a, "done", f"cannot be applied again; released: {r.detail}")
            else:
                outcomes[a.island_id] = Outcome(a, r.status, r.detail)
                if r.status == "done" and getattr(self.service, "clocks", None) is not None:
                    # the stored clock went with the re-applied pod (service/clock_lifecycle.py)
                    clock_lifecycle.reapplied(self.service.clocks, a.island_id, a.generation, "recover",
                                              clock_lifecycle.ActorRef("recover"))
        return outcomes

    def _one(self, a: Action) -> Outcome:
        if a.kind == "report_orphan":
            return Outcome(a, "reported")
        if a.kind == "delete_orphan":
            return Outcome(a, "done")
        if a.kind == "remove_registration":
            # a launch may have re-used the id since we read: only remove what is still an orphan
            if a.island_id not in {r.island_id for r in self.store.orphan_registrations()}:
                return Outcome(a, "skipped", "the island exists again")
            return self._done(a, self.store.delete_registration(a.island_id))
        if a.kind == "remove_secret":
            return self._done(a, self.kubectl.delete_token_secret(a.island_id, a.generation))
        if a.kind == "adopt":
            return self._adopt(a)
        if a.kind == "lease_expired":
            # the pod is gone (deleted above); the island ends with its reason (the tracker may have
            # recorded the DELETED event first, keeping it), then the webhook and audit
            self.store.transition(a.island_id, a.generation, "deleted", a.reason, a.message,
                                  expected_from="terminating")
            row = self.store.get(a.island_id)
            ok = (row is not None and row.generation == a.generation and row.state == "deleted"
                  and row.reason == a.reason)
            if ok:
                self._lease_expired(a)
            return self._done(a, ok)
        if a.kind in MOVE_KINDS:
            return self._done(a, self.store.transition(*_move(a)))
        raise IslandError(f"recover: no way to carry out a {a.kind!r} action")

    def _claim(self, a: Action) -> bool:
        """terminating/LeaseExpired from the state the plan saw (already so after a failed delete)."""
        if a.from_state == "terminating":
            return True
        return self.store.transition(a.island_id, a.generation, "terminating", a.reason, a.message,
                                     expected_from=a.from_state)

    def _lease_expired(self, a: Action) -> None:
        try:
            self.kubectl.delete_token_secret(a.island_id, a.generation)
        except IslandError as exc:
            log.warning("island %s: token Secret not deleted (%s); the next run sweeps it", a.island_id, exc)
        leases = getattr(self.service, "leases", None)
        row = self.store.get(a.island_id)
        if leases is not None and row is not None and row.generation == a.generation:
            leases.expired(row, message=a.message)

    @staticmethod
    def _done(a: Action, ok: bool) -> Outcome:
        return Outcome(a, "done") if ok else Outcome(a, "skipped", "changed meanwhile; left for the next run")

    def _adopt(self, a: Action) -> Outcome:
        info = a.adopt
        # a pod of ours reads its token from the island's Secret: adopting keeps that token
        from_secret = None if info.get("token") else self.kubectl.token_from_secret(a.island_id)
        token = info.get("token") or from_secret or new_token()
        # allocating from a range of one id claims exactly this id, atomically, if it is free
        one_id = dataclasses.replace(self.settings.islands, id_min=a.island_id, id_max=a.island_id)
        try:
            row = self.store.allocate(owner=info["owner"], branch=info["branch"], pod_name_fn=lambda _id: a.pod,
                                      overrides=info["overrides"], settings=one_id,
                                      token_hash=hash_token(token), owner_id=info.get("owner_id"))
        except AllocationError:
            return Outcome(a, "skipped", f"island id {a.island_id} was taken meanwhile")
        try:
            if info.get("pod_generation") not in (None, str(row.generation)):
                # the tracker follows a pod only when its generation label matches the row's
                self.kubectl.run("label", "pod", a.pod, f"{GENERATION_LABEL}={row.generation}", "--overwrite")
            if from_secret:
                # ... and the Secret is the new generation's, so deleting the island deletes it
                self.kubectl.run("label", "secret", token_secret_name(a.island_id),
                                 f"{GENERATION_LABEL}={row.generation}", "--overwrite")
        except IslandError as exc:
            self.store.release(row.island_id, row.generation, "AdoptFailed", exc.message)
            raise
        self.store.transition(row.island_id, row.generation, a.to_state, a.reason, a.message,
                              node=a.node, host_ip=a.host_ip, expected_from="allocated")
        if (info.get("token") or from_secret) and a.host_ip and a.to_state in CHANGEABLE_STATES:
            # its registration row went with the released island; the pod registered only at start
            self.store.register(row.island_id, token, a.host_ip, list(row.ports), a.pod)
        return Outcome(a, "done", f"generation {row.generation}")


def _move(a: Action) -> Move:
    """The row move an action in MOVE_KINDS is, as ``store.transition`` takes it."""
    if a.kind == "expire":
        # the pod is gone (deleted before): the generation guard is enough, whatever the state
        return Move(a.island_id, a.generation, "deleted", a.reason, a.message)
    return Move(a.island_id, a.generation, a.to_state, a.reason, a.message, node=a.node, host_ip=a.host_ip,
                resource_version=a.resource_version, expected_from=a.from_state)


def _text(exc: IslandError) -> str:
    return exc.message.replace("\n", " ")
