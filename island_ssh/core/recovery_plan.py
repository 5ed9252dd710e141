"""Recovery planning: from MySQL's rows and the cluster's pods to the list of repairs.

Pure: no I/O, no clock (``now`` is passed in). ``plan_recovery`` reads the island rows that are
not deleted, the pods carrying our managed-by label, the registration rows whose island is gone,
and returns ``Action``s; ``island_ssh.service.recovery`` takes the lock, gathers the inputs, carries
the actions out and reports. What each drift becomes:

==========================================  ================================================
drift                                       action
==========================================  ================================================
row in a pod state, its pod gone            ``lost`` (``deleted`` if it was failed/terminating)
row ``lost`` for ``lost_grace`` s           ``release``: deleted, id and ports free
row applying, no pod, queued by a service   ``reapply`` at once: accepted, never applied
  process that is gone (``resumable``)        (the durable launch queue, service/resume.py)
row applying, no pod, not queued (kubectl   ``reapply``: an accepted launch or restart is
  ran and was cut), older than stuck_after    applied again, never released for being slow
row allocated, no pod, older than           ``release_stuck`` or ``reapply``
  ``stuck_after`` (never answered 201)        (recover.stuck_action)
row whose pod shows another state           ``sync`` (what the tracker would have stored)
pod whose server ended > ``retention`` ago  ``expire``: pod deleted, island released
row whose lease ended (``lease_expires_at``  ``lease_expired``: pod deleted (if any), island
  <= now; not allocated/applying)             released with reason LeaseExpired (core.lease)
pod with our label and no row,              ``adopt`` (recover.orphan_action: adopt) or
  its id label naming a free id               ``delete_orphan`` / ``report_orphan``
pod with our label, id held by another      ``delete_orphan`` (``report_orphan`` when
  island or no usable id label                recover.orphan_action is report)
registration row of an absent island        ``remove_registration``
token Secret whose island id no row holds   ``remove_secret`` (deleted by id AND generation
                                              label: a new launch of the id keeps its own)
==========================================  ================================================

Races with a running tracker or launch: the pods are listed BEFORE the rows are read, so a pod
in the list never lacks a row that existed when it was created; a row whose stored
resourceVersion is newer than the list's saw the cluster after we did and is left for the next
run. Every change the executor makes is conditional on the state it planned from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Sequence

from island_ssh.core.settings import IslandSettings, RecoverSettings
from island_ssh.core.errors import InvalidInput
from island_ssh.core.identity import validate_user_id
from island_ssh.core.names import (GENERATION_LABEL, OWNER_ANNOTATION, OWNER_ID_ANNOTATION, SERVER_CONTAINER,
                                   STUCK_STATES)
from island_ssh.core.podstate import PodView, classify
from island_ssh.core.statemachine import IslandSnapshot, on_relist

KINDS = ("sync", "lost", "release_gone", "release", "release_stuck", "reapply", "expire", "lease_expired", "adopt",
         "delete_orphan", "report_orphan", "remove_registration", "remove_secret")
"""Every action kind, in the order a summary lists them."""
CHANGES_NOTHING = frozenset({"report_orphan"})


@dataclass(frozen=True)
class PodFacts:
    """What recovery needs of one Pod object."""

    name: str
    island_id: int | None
    generation: str | None
    terminating: bool
    view: PodView
    ended_at: float | None
    """Epoch seconds the server container (or the whole pod) finished; None while it runs."""
    owner: str
    branch: str
    token: str | None
    """The pod's registration token (ISLAND_TOKEN): adoption stores its hash and re-registers."""
    memory: str | None
    image: str | None
    created: str
    owner_id: str | None = None
    """The owner's user id annotation (None on pods made before ids, or when not a valid id)."""


def _owner_id(annotations: dict) -> str | None:
    value = annotations.get(OWNER_ID_ANNOTATION)
    if value is None:
        return None  # no annotation: no exception to raise and catch (a recover run reads thousands)
    try:
        return validate_user_id(value)
    except InvalidInput:
        return None  # adopted under the display name as id, as rows made before ids were


@dataclass(frozen=True)
class Action:
    kind: str
    island_id: int | None
    reason: str
    """The event reason stored with the change (Kubernetes style: PodMissing, Expired, ...)."""
    message: str
    generation: int | None = None
    pod: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    node: str | None = None
    host_ip: str | None = None
    resource_version: int | None = None
    adopt: dict[str, Any] = field(default_factory=dict, repr=False)
    """For ``adopt``: owner, branch, token, overrides and the pod's generation label (never printed)."""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "island_id": self.island_id, "pod": self.pod,
                "generation": self.generation, "from_state": self.from_state, "to_state": self.to_state,
                "reason": self.reason, "message": self.message}


# -- reading pods ------------------------------------------------------------------------------
def parse_time(text: Any) -> float | None:
    """RFC 3339 as Kubernetes writes it ('2026-11-27T08:04:16Z') -> epoch seconds, or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _server_status(pod: dict, server_container: str) -> dict:
    for entry in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(entry, dict) and entry.get("name") == server_container:
            return entry
    return {}


def ended_at(pod: dict, server_container: str) -> float | None:
    """When the island's server stopped: its terminated.finishedAt, else (a Failed/Succeeded pod
    without container statuses, e.g. evicted) the latest condition change."""
    terminated = ((_server_status(pod, server_container).get("state") or {}).get("terminated"))
    if isinstance(terminated, dict):
        return parse_time(terminated.get("finishedAt")) or parse_time(terminated.get("startedAt"))
    status = pod.get("status") or {}
    if status.get("phase") in ("Failed", "Succeeded"):
        times = [parse_time(c.get("lastTransitionTime")) for c in status.get("conditions") or []
                 if isinstance(c, dict)]
        times = [t for t in times if t is not None] or [parse_time(status.get("startTime"))]
        return max((t for t in times if t is not None), default=None)
    return None


def _server_container(pod: dict, name: str) -> dict:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if isinstance(c, dict) and c.get("name") == name:
            return c
    return {}


def _env_value(env: Any, name: str) -> Any:
    """The value of the container's LAST env entry called ``name`` (as the kubelet reads a
    duplicated name), without building a dict of the whole env."""
    value = None
    for entry in env or ():
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get("value")
    return value


def pod_facts(pod: dict, server_container: str = SERVER_CONTAINER) -> PodFacts:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    view = classify(pod, server_container)
    server = _server_container(pod, server_container)
    token = _env_value(server.get("env"), "ISLAND_TOKEN")
    generation = labels.get(GENERATION_LABEL)
    return PodFacts(
        name=view.name, island_id=view.island_id,
        generation=str(generation) if generation is not None else None,
        terminating=bool(meta.get("deletionTimestamp")), view=view,
        ended_at=ended_at(pod, server_container),
        owner=str((meta.get("annotations") or {}).get(OWNER_ANNOTATION) or ""),
        branch=str(labels.get("branch") or ((pod.get("spec") or {}).get("nodeSelector") or {}).get("branch") or ""),
        token=token if isinstance(token, str) and token else None,
        memory=((server.get("resources") or {}).get("requests") or {}).get("memory"),
        image=server.get("image"), created=str(meta.get("creationTimestamp") or ""),
        owner_id=_owner_id(meta.get("annotations") or {}),
    )


def list_resource_version(pod_list: dict) -> int | None:
    rv = (pod_list.get("metadata") or {}).get("resourceVersion")
    return int(rv) if isinstance(rv, str) and rv.isdigit() else None


# -- planning ----------------------------------------------------------------------------------
RACE_WINDOW = 300.0
"""A row written longer ago than this was not written between our list and our read of the rows."""


def _age(since: datetime | None, now: float) -> float:
    return now - since.timestamp() if since is not None else float("inf")


def _belongs(row, pod: PodFacts) -> bool:
    if row.pod_name and pod.name != row.pod_name:
        return False
    return pod.generation is None or pod.generation == str(row.generation)


def _row_action(kind: str, row, reason: str, message: str, **extra) -> Action:
    return Action(kind, row.island_id, reason, message, generation=row.generation,
                  pod=row.pod_name or None, from_state=row.state, **extra)


def _lease_ended(row, now: float) -> float | None:
    """Seconds since the row's lease ended (None: it has not, or the row has no lease)."""
    end = getattr(row, "lease_expires_at", None)
    if end is None or row.state in STUCK_STATES or end.timestamp() > now:
        return None
    return now - end.timestamp()


def _lease_action(row, ended: float) -> Action:
    return _row_action("lease_expired", row, "LeaseExpired",
                       f"lease ended {ended:.0f} s ago; deleted by the recover job", to_state="deleted")


def _plan_row(row, pod: PodFacts | None, now: float, settings: RecoverSettings,
              resumable: bool = False) -> Action | None:
    ended = _lease_ended(row, now)
    if pod is None:
        age = _age(row.state_since, now)
        if row.state in STUCK_STATES:
            if resumable:
                return _row_action("reapply", row, "Reapplied",
                                   "accepted, but the service process that queued its apply is gone; applied again",
                                   to_state="applying")
            if getattr(row, "applier", None) is not None:
                return None  # queued by a live service process: its worker applies it
            if age < settings.stuck_after:
                return None
            if row.state == "applying" or settings.stuck_action == "reapply":
                return _row_action("reapply", row, "Reapplied", f"{row.state} for {age:.0f} s with no pod; applied again",
                                   to_state="applying")
            return _row_action("release_stuck", row, "Stuck", f"{row.state} for {age:.0f} s with no pod; released",
                               to_state="deleted")
        if ended is not None and row.state != "terminating":
            return _lease_action(row, ended)
        if row.state == "lost":
            if age < settings.lost_grace:
                return None
            return _row_action("release", row, "LostReleased",
                               f"lost for {age:.0f} s (grace {settings.lost_grace:g} s); id and ports released",
                               to_state="deleted")
        t = on_relist(IslandSnapshot.of(row), None)
        if t is None:
            return None
        kind = "release_gone" if t.to_state == "deleted" else "lost"
        return _row_action(kind, row, t.reason, t.message, to_state=t.to_state)
    if pod.terminating:
        return None  # on its way out; the tracker (or the next run) records the end
    if ended is not None:
        return _lease_action(row, ended)
    if pod.ended_at is not None and now - pod.ended_at >= settings.retention:
        return _row_action("expire", row, "Expired",
                           f"server ended {now - pod.ended_at:.0f} s ago (retention {settings.retention:g} s); "
                           f"pod deleted", to_state="deleted")
    t = on_relist(IslandSnapshot.of(row), pod.view)
    if t is None or t.to_state == row.state:
        return None  # new details of the same state are the tracker's business, not drift
    return _row_action("sync", row, t.reason, t.message, to_state=t.to_state, node=t.node, host_ip=t.host_ip,
                       resource_version=t.resource_version)


def _adopt_action(pod: PodFacts, islands: IslandSettings) -> Action:
    overrides: dict[str, Any] = {"adopted_from": pod.name}
    if pod.memory:
        overrides["memory"] = pod.memory
    if pod.image and pod.image != islands.image:
        overrides["image"] = pod.image
    return Action("adopt", pod.island_id, "Adopted",
                  f"pod {pod.name} had no island row; adopted ({pod.view.state})",
                  pod=pod.name, to_state=pod.view.state, node=pod.view.node, host_ip=pod.view.host_ip,
                  adopt={"owner": pod.owner or "unknown", "branch": pod.branch or islands.default_branch,
                         "token": pod.token, "overrides": overrides, "pod_generation": pod.generation,
                         "owner_id": pod.owner_id})


def _plan_orphans(pods: Iterable[PodFacts], held: set[int], now: float, settings: RecoverSettings,
                  islands: IslandSettings) -> list[Action]:
    by_id: dict[int | None, list[PodFacts]] = defaultdict(list)
    for pod in pods:
        by_id[pod.island_id].append(pod)
    actions = []
    drop = "report_orphan" if settings.orphan_action == "report" else "delete_orphan"
    for island_id in sorted(by_id, key=lambda i: (i is None, i or 0)):
        group = by_id[island_id]
        free = island_id is not None and islands.id_min <= island_id <= islands.id_max and island_id not in held
        if free and settings.orphan_action == "adopt":
            # the newest live pod is the one worth keeping; the others lose
            live = [p for p in group if p.ended_at is None or now - p.ended_at < settings.retention]
            live.sort(key=lambda p: (p.ended_at is None, p.created), reverse=True)
            if live:
                actions.append(_adopt_action(live[0], islands))
                group = [p for p in group if p is not live[0]]
        adopted = actions[-1].pod if actions and actions[-1].kind == "adopt" and actions[-1].island_id == island_id else None
        for pod in group:
            if island_id is None or not islands.id_min <= island_id <= islands.id_max:
                why = "its id label names no usable island id"
            elif island_id in held:
                why = f"island {island_id} belongs to another pod"
            elif adopted:
                why = f"island {island_id} was adopted from pod {adopted}"
            elif settings.orphan_action == "adopt":
                why = f"its server ended {now - (pod.ended_at or now):.0f} s ago (retention {settings.retention:g} s)"
            else:
                why = f"island {island_id} has no row"
            verb = "only reported (recover.orphan_action: report)" if drop == "report_orphan" else "deleted"
            actions.append(Action(drop, island_id, "Orphan", f"pod {pod.name} has our label but {why}; {verb}",
                                  pod=pod.name))
    return actions


def plan_recovery(rows: Sequence, pods: Sequence[dict], orphan_registrations: Sequence, *, now: float,
                  settings: RecoverSettings, islands: IslandSettings, list_rv: int | None = None,
                  server_container: str = SERVER_CONTAINER, resumable: Iterable[int] = (),
                  token_secrets: Iterable[dict] = ()) -> list[Action]:
    """The repairs that make MySQL and the cluster agree; see the module docstring.

    ``resumable``: ids of rows applying whose queueing service process is gone
    (store.orphaned_applies(), read after ``rows``). ``token_secrets``: the islands' token
    Secrets (``plan_secret_sweep``), listed before the rows were read, as the pods are.

    ``rows``: IslandRows not deleted (store.active()); ``pods``: the PodList's items, listed
    before the rows were read; ``list_rv``: that list's resourceVersion; ``now``: epoch seconds.
    """
    facts = [pod_facts(p, server_container) for p in pods]
    by_id: dict[int, list[PodFacts]] = defaultdict(list)
    for pod in facts:
        if pod.island_id is not None:
            by_id[pod.island_id].append(pod)
    actions: list[Action] = []
    claimed: set[str] = set()
    resumable = set(resumable)
    for row in rows:
        mine = [p for p in by_id.get(row.island_id, ()) if _belongs(row, p)]
        mine.sort(key=lambda p: p.terminating)
        pod = mine[0] if mine else None
        claimed.update(p.name for p in mine)
        if (list_rv is not None and row.resource_version is not None and row.resource_version > list_rv
                and _age(row.updated_at, now) < RACE_WINDOW):
            continue  # the row saw the cluster after our list: the next run judges it
            # (only a row written moments ago: after an etcd restore or against a new cluster the
            # stored versions run ahead of the cluster's for good, and such rows must not be skipped forever)
        action = _plan_row(row, pod, now, settings, resumable=row.island_id in resumable)
        if action is not None:
            actions.append(action)
    held = {row.island_id for row in rows}
    unclaimed = [p for p in facts if p.name not in claimed and not p.terminating]
    actions.extend(_plan_orphans(unclaimed, held, now, settings, islands))
    for reg in orphan_registrations:
        actions.append(Action("remove_registration", reg.island_id, "RegistrationRemoved",
                              f"registration of island {reg.island_id} ({reg.pod_name} on {reg.node_ip}) "
                              f"outlived its island; removed", pod=reg.pod_name))
    # an id adopted in this run is held from now on: its pod keeps its Secret
    actions.extend(plan_secret_sweep(token_secrets, held | {a.island_id for a in actions if a.kind == "adopt"}))
    return actions


def plan_secret_sweep(token_secrets: Iterable[dict], held: set[int]) -> list[Action]:
    """``remove_secret`` for each token Secret (``{"name", "island_id", "generation"}`` as
    ``Kubectl.token_secrets`` gives them, listed BEFORE the rows were read) whose island id no
    live row holds: its island was deleted or released without the Secret going too (a delete
    whose kubectl failed, the tracker seeing the pod vanish, a release by recover)."""
    actions = []
    for secret in token_secrets:
        island_id, generation = _whole(secret.get("island_id")), _whole(secret.get("generation"))
        if island_id is None or island_id in held:
            continue
        actions.append(Action("remove_secret", island_id, "SecretRemoved",
                              f"token Secret {secret.get('name')} outlived island {island_id}; deleted",
                              generation=generation))
    return actions


def _whole(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10 else None


def count_by_kind(actions: Iterable[Action]) -> dict[str, int]:
    counts = {kind: 0 for kind in KINDS}
    for a in actions:
        counts[a.kind] += 1
    return counts
