"""Plain-data builders for the recovery planner's tests: island rows and Pod objects as the API
server returns them (only the fields recovery and classify read)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from island_ssh.store import IslandRow

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def row(island_id: int, state: str, *, age: float = 10.0, generation: int = 1, rv: int | None = None,
        pod_name: str | None = None, reason: str = "", message: str = "") -> IslandRow:
    since = NOW - timedelta(seconds=age)
    return IslandRow(
        island_id=island_id, generation=generation, state=state, reason=reason, message=message,
        pod_name=pod_name if pod_name is not None else f"altraserver-alice-dev-{island_id}",
        owner="alice", branch="dev", node=None, host_ip=None, port_base=30000 + 3 * island_id,
        clock_offset_seconds=None, clock_setting=None, resource_version=rv,
        created_at=since, updated_at=since, state_since=since)


def pod(island_id: int | None, state: str = "ready", *, generation: int | str | None = 1, name: str | None = None,
        ended_ago: float | None = None, terminating: bool = False, rv: int = 100, created_ago: float = 60.0,
        owner: str = "alice", token: str = "tok-" + "x" * 20, memory: str = "64Mi",
        image: str = "bo602505401/jdk8-curl-libfaketime:latest") -> dict:
    labels = {"app": "altraserver", "branch": "dev", "app.kubernetes.io/managed-by": "island-ssh"}
    if island_id is not None:
        labels["island-ssh/id"] = str(island_id)
    if generation is not None:
        labels["island-ssh/generation"] = str(generation)
    meta = {"name": name or f"altraserver-{owner}-dev-{island_id}", "namespace": "default", "labels": labels,
            "annotations": {"island-ssh/owner": owner}, "resourceVersion": str(rv), "uid": f"uid-{name}-{island_id}",
            "creationTimestamp": iso(NOW - timedelta(seconds=created_ago))}
    if terminating:
        meta["deletionTimestamp"] = iso(NOW)
    server = {"name": "altraserver", "image": image, "resources": {"requests": {"memory": memory}},
              "env": [{"name": "ISLAND_TOKEN", "value": token}]}
    spec = {"nodeName": "node-dev-1", "nodeSelector": {"branch": "dev"},
            "containers": [server, {"name": "side-container", "image": "alpine:3.14.1"}]}
    started = iso(NOW - timedelta(seconds=created_ago - 1))
    if ended_ago is not None:
        cstate = {"terminated": {"exitCode": 3, "reason": "Error", "startedAt": started,
                                 "finishedAt": iso(NOW - timedelta(seconds=ended_ago))}}
        ready = False
    elif state == "ready":
        cstate, ready = {"running": {"startedAt": started}}, True
    elif state == "starting":
        cstate, ready = {"running": {"startedAt": started}}, False
    else:
        cstate, ready = {"waiting": {"reason": "ContainerCreating"}}, False
    status = {"phase": "Running" if state != "creating" else "Pending", "hostIP": "127.0.0.11",
              "conditions": [{"type": "PodScheduled", "status": "True"}],
              "containerStatuses": [{"name": "altraserver", "ready": ready, "state": cstate},
                                    {"name": "side-container", "ready": True,
                                     "state": {"running": {"startedAt": started}}}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
