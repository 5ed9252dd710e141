"""Run recovery: one run at a time (MySQL named lock); list pods, then rows; plan; act; report.

The planning is pure (island_ssh.core.recovery_plan); this module only gathers its inputs and carries its
actions out, each one conditional on the state it was planned from, so a tracker or a launch
acting meanwhile wins and the action is reported as skipped, not forced.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from island_ssh.core.settings import Settings
from island_ssh.core.errors import AllocationError, ConfigError, IslandError
from island_ssh.kube.kubectl import Kubectl
from island_ssh.core.names import CHANGEABLE_STATES, GENERATION_LABEL, MANAGED_SELECTOR
from island_ssh.core.recovery_plan import CHANGES_NOTHING, KINDS, Action, list_resource_version, plan_recovery
from island_ssh.core.token_secret import token_secret_name
from island_ssh.core.tokens import hash_token
from island_ssh.store import new_token
from island_ssh.service import clock_lifecycle
from island_ssh.service.audit import Actor
from island_ssh.observe import metrics

log = logging.getLogger(__name__)

STUCK_ACTIONS = ("release", "reapply")
ORPHAN_ACTIONS = ("adopt", "delete", "report")
DELETE_KINDS = ("expire", "lease_expired", "delete_orphan")


@dataclass
class Outcome:
    action: Action
    status: str
    """planned (dry run) | done | reported | skipped (changed meanwhile) | failed"""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**self.action.as_dict(), "status": self.status, "detail": self.detail}


@dataclass
class RecoveryReport:
    dry_run: bool
    another_running: bool = False
    pods: int = 0
    islands: int = 0
    kubectl_seconds: float = 0.0
    plan_seconds: float = 0.0
    total_seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    idle: dict | None = None
    """The idle check this run did (service/idle.py IdleReport.as_dict), None when it did none."""
    clock_steps: int = 0
    """Clock timeline steps this run applied (service/clock_timelines.py: the fallback runner)."""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def counts(self) -> dict[str, int]:
        counts = {kind: 0 for kind in KINDS}
        for o in self.outcomes:
            if o.status in ("done", "planned", "reported"):
                counts[o.action.kind] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        """The `recover --json` document; keys are stable for scripts."""
        return {
            "dry_run": self.dry_run, "another_running": self.another_running,
            "pods": self.pods, "islands": self.islands,
            "seconds": {"kubectl": round(self.kubectl_seconds, 3), "plan": round(self.plan_seconds, 3),
                        "total": round(self.total_seconds, 3)},
            "counts": self.counts(), "failed": len(self.failed),
            "actions": [o.as_dict() for o in self.outcomes],
            "idle": self.idle,
            "clock_steps": self.clock_steps,
        }

    def summary_lines(self) -> list[str]:
        if self.another_running:
            return ["another recover run is active; this one did nothing"]
        head = (f"recover{' (dry run: nothing changed)' if self.dry_run else ''}: {self.islands} islands, "
                f"{self.pods} pods checked in {self.total_seconds:.2f} s (kubectl {self.kubectl_seconds:.2f} s)")
        lines = [head]
        for o in self.outcomes:
            target = f"island {o.action.island_id}" if o.action.island_id is not None else f"pod {o.action.pod}"
            tail = f" [{o.status}: {o.detail}]" if o.status in ("skipped", "failed") else ""
            lines.append(f"  {o.action.kind:<19} {target:<12} {o.action.message}{tail}")
        counts = {k: v for k, v in self.counts().items() if v}
        found = ", ".join(f"{v} {k}" for k, v in counts.items()) or "nothing to repair"
        verb = "would do" if self.dry_run else "did"
        if self.idle and self.idle.get("ran") and self.idle.get("checked"):
            lines.append(f"  idle check: {self.idle['checked']} ready islands, {len(self.idle['idle'])} idle, "
                         f"{len(self.idle['expired'])} deleted (IdleExpired), {len(self.idle['unknown'])} unknown")
        lines.append(f"{verb}: {found}" + (f"; {len(self.failed)} failed" if self.failed else ""))
        if self.clock_steps:
            lines.append(f"clock timelines: {self.clock_steps} due steps applied")
        return lines


def check_recover_settings(settings: Settings) -> None:
    r = settings.recover
    if r.stuck_action not in STUCK_ACTIONS:
        raise ConfigError(f"{settings.source}: recover.stuck_action is {r.stuck_action!r}; use one of "
                          f"{', '.join(STUCK_ACTIONS)}")
    if r.orphan_action not in ORPHAN_ACTIONS:
        raise ConfigError(f"{settings.source}: recover.orphan_action is {r.orphan_action!r}; use one of "
                          f"{', '.join(ORPHAN_ACTIONS)}")


def run_recovery(settings: Settings, store, kubectl: Kubectl, service, *, dry_run: bool = False,
                 now: float | None = None, clock: Callable[[], float] = time.time) -> RecoveryReport:
    """One recovery run. ``now`` (epoch seconds) overrides the clock for the plan's ages."""
    check_recover_settings(settings)
    started = time.monotonic()
    with store.named_lock(settings.recover.lock_name, timeout=0) as acquired:
        if not acquired:
            return RecoveryReport(dry_run=dry_run, another_running=True)
        report = RecoveryReport(dry_run=dry_run)
        if not dry_run:
            _send_lease_warnings(service)  # before the plan: an island is warned before its lease deletes it
        # pods first, rows second: see island_ssh.core.recovery_plan on why the order matters
        listing = kubectl.pods(MANAGED_SELECTOR, timeout=120.0)
        secrets = _token_secrets(kubectl)  # also before the rows, for the same reason
        report.kubectl_seconds = time.monotonic() - started
        rows, registrations = store.active(), store.orphan_registrations()
        # read after the rows: a row queued since is not in them; one resumed since is skipped
        resumable = {r.island_id for r in store.orphaned_applies()}
        planning = time.monotonic()
        actions = plan_recovery(rows, listing.get("items") or [], registrations,
                                now=clock() if now is None else now, settings=settings.recover,
                                islands=settings.islands, list_rv=list_resource_version(listing),
                                resumable=resumable, token_secrets=secrets)
        report.plan_seconds = time.monotonic() - planning
        report.pods, report.islands = len(listing.get("items") or []), len(rows)
        if dry_run:
            report.outcomes = [Outcome(a, "reported" if a.kind in CHANGES_NOTHING else "planned") for a in actions]
        else:
            report.outcomes = Executor(settings, store, kubectl, service).run(actions)
            metrics.recover_ran((o.action.kind, o.status) for o in report.outcomes)
            report.idle = _idle_check(service)
            report.clock_steps = _clock_steps(service)
        report.total_seconds = time.monotonic() - started
        return report


def _clock_steps(service) -> int:
    """Clock timeline steps that are due (service/clock_timelines.py): recover is their fallback
    runner when no long-running service runs them; a failure never fails the recover run."""
    clocks = getattr(service, "clocks", None)
    if clocks is None:
        return 0
    try:
        return clocks.run_due_timelines()
    except IslandError as exc:
        log.warning("recover: running due clock timeline steps failed: %s", exc)
        return 0


def _idle_check(service) -> dict | None:
    """The idle check (service/idle.py), when no long-running service ran it within its interval;
    its failure never fails the recover run."""
    idle = getattr(service, "idle", None)
    if idle is None:
        return None
    try:
        report = idle.check_all()
    except Exception as exc:  # noqa: BLE001 -- the repairs stand whatever the idle check does
        log.warning("recover: the idle check failed (%s); the next run tries again", exc)
        return None
    return report.as_dict() if report.ran else None


def _token_secrets(kubectl: Kubectl) -> list[dict]:
    """The token Secrets to sweep; none when they cannot be listed (the rest of the run goes on,
    the next run sweeps them)."""
    try:
        return kubectl.token_secrets(timeout=120.0)
    except IslandError as exc:
        log.warning("could not list the islands' token Secrets (%s); none swept this run", exc)
        return []


def _send_lease_warnings(service) -> None:
    """The lease warnings due (service/leases.py), sent from cron too; never stops the run."""
    leases = getattr(service, "leases", None)
    if leases is None:
        return
    try:
        leases.store.leases.assign_missing(leases.policy.default)
        leases.warn_due()
    except IslandError as exc:
        log.warning("recover: lease warnings not sent this run (%s)", exc)


def recover(runtime, *, dry_run: bool = False) -> RecoveryReport:
    """One recovery run over a wired runtime (``wiring.build_runtime``): the command line's call,
    so it names no store or kubectl itself."""
    return run_recovery(runtime.settings, runtime.store, runtime.kubectl, runtime.service, dry_run=dry_run)


class Executor:
    def __init__(self, settings: Settings, store, kubectl: Kubectl, service) -> None:
        self.settings = settings
        self.store = store
        self.kubectl = kubectl
        self.service = service

    def run(self, actions: list[Action]) -> list[Outcome]:
        failed_deletes = self._delete_pods([a.pod for a in actions if a.kind in DELETE_KINDS])
        resumed = self._reapply([a for a in actions if a.kind == "reapply"])
        outcomes = []
        for action in actions:
            if action.kind == "reapply":
                outcomes.append(resumed[action.island_id])
                continue
            try:
                if action.kind in DELETE_KINDS and action.pod in failed_deletes:
                    outcomes.append(Outcome(action, "failed", failed_deletes[action.pod]))
                    continue
                outcomes.append(self._one(action))
            except IslandError as exc:
                outcomes.append(Outcome(action, "failed", exc.message.replace("\n", " ")))
        self._audit(outcomes)
        return outcomes

    def _audit(self, outcomes: list[Outcome]) -> None:
        """Each repair that changed an island, as ``recover-<kind>`` by the recover job (a lease
        expiry is recorded by the lease service itself, as ``expire``)."""
        audit = getattr(self.service, "audit", None)
        for o in outcomes if audit is not None else ():
            a = o.action
            if o.status == "done" and a.island_id is not None and a.kind not in ("lease_expired", "report_orphan"):
                audit.record(Actor.system("recover"), f"recover-{a.kind.replace('_', '-')}", a.island_id,
                             a.generation, f"{a.reason}: {a.message}"[:500])

    def _delete_pods(self, names: list) -> dict[str, str]:
        """Delete in one kubectl call, waiting for them to be gone (their host ports are then
        free for the released ids); on failure, one by one. Returns {pod: error} of failures."""
        names = sorted({n for n in names if n})
        if not names:
            return {}
        grace = str(self.settings.kube.delete_grace_period)
        try:
            self.kubectl.run("delete", "pod", *names, f"--grace-period={grace}", "--wait=true",
                             "--ignore-not-found=true", timeout=120.0 + len(names))
            return {}
        except IslandError:
            failures = {}
            for name in names:
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
            return {a.island_id: Outcome(a, "failed", exc.message.replace("\n", " ")) for a in actions}
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
            # the pod is gone (deleted above); the island ends with its reason, then the webhook and audit
            ok = self.store.transition(a.island_id, a.generation, "deleted", a.reason, a.message)
            if ok:
                self._lease_expired(a)
            return self._done(a, ok)
        if a.kind == "expire":
            # the pod is gone (deleted above): the generation guard is enough, whatever the state
            return self._done(a, self.store.transition(a.island_id, a.generation, "deleted", a.reason, a.message))
        ok = self.store.transition(a.island_id, a.generation, a.to_state, a.reason, a.message, node=a.node,
                                   host_ip=a.host_ip, resource_version=a.resource_version, expected_from=a.from_state)
        return self._done(a, ok)

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
