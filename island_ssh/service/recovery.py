"""Run recovery: one run at a time (MySQL named lock); list pods, then rows; plan; act; report.

The planning is pure (island_ssh.core.recovery_plan); this module only gathers its inputs and has
its actions carried out (service/recovery_executor.py), each one conditional on the state it was
planned from, so a tracker or a launch acting meanwhile wins and the action is reported as
skipped, not forced.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from island_ssh.core.settings import Settings
from island_ssh.core.errors import ConfigError, IslandError
from island_ssh.kube.kubectl import Kubectl
from island_ssh.core.names import MANAGED_SELECTOR
from island_ssh.core.recovery_plan import CHANGES_NOTHING, KINDS, list_resource_version, plan_recovery
from island_ssh.service.recovery_executor import DELETE_KINDS, Executor, Outcome
from island_ssh.observe import metrics

log = logging.getLogger(__name__)

__all__ = ["DELETE_KINDS", "Executor", "Outcome", "RecoveryReport", "check_recover_settings", "recover",
           "run_recovery"]

STUCK_ACTIONS = ("release", "reapply")
ORPHAN_ACTIONS = ("adopt", "delete", "report")


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
        # pods first, rows second: see island_ssh.core.recovery_plan on why the order matters. The
        # token Secrets too are listed before the rows, for the same reason, at the same time as
        # the pods (on a channel of their own): their list's remote time hides the pods' parse.
        with ThreadPoolExecutor(1, thread_name_prefix="recover-secrets") as pool:
            listed_secrets = pool.submit(_token_secrets, kubectl)
            listing = kubectl.pods(MANAGED_SELECTOR, timeout=120.0)  # its error ends the run, alone
            secrets = _secrets_or_none(listed_secrets.result())
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


def _token_secrets(kubectl: Kubectl) -> list[dict] | IslandError:
    """The token Secrets to sweep, or why they could not be listed (said only once the pods were
    listed: when the master is unreachable, the pods' error is the one line the user reads)."""
    try:
        return kubectl.token_secrets(timeout=120.0)
    except IslandError as exc:
        return exc


def _secrets_or_none(listed: list[dict] | IslandError) -> list[dict]:
    """None swept when they could not be listed: the rest of the run goes on, the next run sweeps them."""
    if isinstance(listed, IslandError):
        log.warning("could not list the islands' token Secrets (%s); none swept this run", listed)
        return []
    return listed


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
