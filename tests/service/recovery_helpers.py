"""Plain-data builders for the recovery planner's tests: island rows and Pod objects as the API
server returns them (only the fields recovery and classify read)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from island_ssh.core.names import MANAGED_SELECTOR
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


# -- on the sandbox --------------------------------------------------------------------------
from island_ssh.testing.waiting import wait_for  # noqa: E402,F401  (re-exported to the tests)


def recover(env, *, dry_run: bool = False, now: float | None = None, **recover_settings):
    """One recovery run against the island_env, with some recover.* settings changed."""
    from island_ssh.service.recovery import run_recovery
    settings = env.settings.replace(recover=recover_settings) if recover_settings else env.settings
    return run_recovery(settings, env.store, env.kubectl, env.service, dry_run=dry_run, now=now)


def pod_names(env) -> set[str]:
    return {p["metadata"]["name"] for p in env.kubectl.pods()["items"]}


def live_pods(env) -> list[dict]:
    return [p for p in env.kubectl.pods()["items"] if not p["metadata"].get("deletionTimestamp")]


def clear_cluster(env) -> None:
    """Remove every island pod and release every island row, without needing the tracker."""
    assert not env.kubectl.delete_pods(pod_names(env), grace_period=0, wait=True, timeout=120)
    wait_for(lambda: not pod_names(env), 60, "all island pods gone")
    env.kubectl.run("delete", "secret", "-l", MANAGED_SELECTOR, "--ignore-not-found=true", timeout=120)
    for row in env.store.active():
        env.store.release(row.island_id, row.generation, "TestCleanup")
    with env.store.db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {env.settings.database.registration_table}")
        conn.commit()


def snapshot(env) -> dict:
    """Everything recovery could change: rows, events, registrations, pods and their labels."""
    with env.store.db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM islands ORDER BY island_id")
        islands = cur.fetchall()
        cur.execute("SELECT COUNT(*) AS n, MAX(id) AS last FROM island_events")
        events = cur.fetchone()
        cur.execute(f"SELECT * FROM {env.settings.database.registration_table} ORDER BY island_id")
        regs = cur.fetchall()
    pods = sorted((p["metadata"]["name"], p["metadata"].get("uid"), tuple(sorted(p["metadata"]["labels"].items())),
                   bool(p["metadata"].get("deletionTimestamp"))) for p in env.kubectl.pods()["items"])
    return {"islands": islands, "events": events, "registrations": regs, "pods": pods}


def insert_registration(env, island_id: int, pod_name: str = "gone-pod") -> None:
    with env.store.db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO {env.settings.database.registration_table} (island_id, node_ip, ports, pod_name, "
                    "registered_at, updated_at) VALUES (%s, '127.0.0.11', '1,2,3', %s, UTC_TIMESTAMP(6), "
                    "UTC_TIMESTAMP(6))", (island_id, pod_name))
        conn.commit()


def stray_pod(island_id, name: str, generation: str = "99", branch: str = "nowhere") -> dict:
    """A pod with our label that nothing launched (it stays Pending: no node has that branch)."""
    labels = {"app.kubernetes.io/managed-by": "island-ssh", "island-ssh/generation": generation, "branch": branch}
    if island_id is not None:
        labels["island-ssh/id"] = str(island_id)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels, "annotations": {"island-ssh/owner": "stray"}},
            "spec": {"nodeSelector": {"branch": branch}, "restartPolicy": "Never",
                     "containers": [{"name": "altraserver", "image": "alpine:3.14.1", "command": ["sleep", "600"],
                                     "resources": {"requests": {"memory": "16Mi"}}}]}}


def write_config(settings, path, **sections) -> str:
    """The settings as a YAML config file (for island-ssh subprocesses), some sections changed."""
    import dataclasses

    import yaml
    data = {f.name: dataclasses.asdict(getattr(settings, f.name)) for f in dataclasses.fields(settings)
            if f.name != "source"}
    for name, values in sections.items():
        data[name].update(values)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def island_ssh_argv(config: str, *args: str) -> tuple[list[str], dict]:
    """argv and environment of .venv/bin/island-ssh as operators run it: a config file, no
    inherited ISLAND_SSH_* overrides."""
    import os
    import sys
    from pathlib import Path
    exe = Path(sys.executable).parent / "island-ssh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLAND_SSH_")}
    return [str(exe), "--config", config, *args], env


def island_ssh_cmd(config: str, *args: str, timeout: float = 120, **popen):
    import subprocess
    argv, env = island_ssh_argv(config, *args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, **popen)
