"""Recover at scale (issue 16): the executor stores its row moves in batches and its audit entries
in one write, with the outcomes one move at a time gives; kubectl's pod and Secret lists come
straight from the API server (`get --raw`), and a garbled answer is a KubectlError that says so.

On a real MariaDB store. The cluster side is the FakeKubectl (island_ssh.testing.fakes) holding
pods rendered from the real template, with the status a kubelet writes: what the executor does
with the store is what is judged here; tests/service/test_recovery_sandbox.py runs recover on the
sandbox end to end, and bench/recover.py at 5,000 pods.
"""

from __future__ import annotations

import copy
import json
import math
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.core.errors import KubectlError, StoreError
from island_ssh.core.manifests import IslandSpec, pod_name, render_pod
from island_ssh.core.names import GENERATION_LABEL, OWNER_ID_ANNOTATION
from island_ssh.core.tokens import hash_token
from island_ssh.kube.kubectl import Kubectl
from island_ssh.resources import load_template
from island_ssh.service import recovery_executor
from island_ssh.service.audit import AuditLog
from island_ssh.service.recovery import run_recovery
from island_ssh.testing.fakes import FakeKubectl, FakeShell, result

READY = json.loads((Path(__file__).resolve().parents[1] / "core" / "pods" / "ready.json").read_text())["status"]
BRANCH = "dev"
GROUPS = {"sync": 6, "lost": 4, "release": 3, "expire": 3, "release_stuck": 2, "skipped": 1}
"""How many islands of each kind the scenario has: 19 moves, 5 chunks of 4."""
FINAL = {"sync": "ready", "lost": "lost", "release": "deleted", "expire": "deleted", "release_stuck": "deleted",
         "skipped": "failed"}


def settings_for():
    return load_settings(DEFAULT_CONFIG, environ={}).replace(
        recover={"lost_grace": 0, "retention": 60, "stuck_after": 0, "stuck_action": "release"},
        islands={"id_min": 1, "id_max": 99, "branches": [BRANCH]})


class Service:
    """What run_recovery asks of the service here: the audit log only (no leases, idle, clocks)."""

    def __init__(self, store) -> None:
        self.audit = AuditLog(store)


class RacingStore:
    """The real store; before the first batch of moves (or, with ``batches_fail``, before each
    batch, which then fails as a dropped connection would) a tracker moves ``racer`` to failed."""

    def __init__(self, store, racer: int, batches_fail: bool) -> None:
        self._store, self.racer, self.batches_fail, self.batches = store, racer, batches_fail, []

    def transition_batch(self, moves):
        self.batches.append(len(moves))
        row = self._store.get(self.racer)
        if row.state != "failed":
            assert self._store.transition(self.racer, row.generation, "failed", "Error", "the tracker saw it fail")
        if self.batches_fail:
            raise StoreError("MariaDB went away (the test's)")
        return self._store.transition_batch(moves)

    def __getattr__(self, name):
        return getattr(self._store, name)


def island_pod(settings, row, status: dict) -> dict:
    spec = IslandSpec(island_id=row.island_id, owner=row.owner, branch=BRANCH, memory_request="64Mi",
                      memory_limit="128Mi", token="t" * 32)
    pod = render_pod(spec, settings.islands, "default", load_template("pod"))
    pod["metadata"]["labels"][GENERATION_LABEL] = str(row.generation)
    pod["metadata"]["annotations"][OWNER_ID_ANNOTATION] = row.owner_id or row.owner
    pod["spec"]["nodeName"] = "node-dev-1"
    pod["status"] = status
    return pod


def ended_status() -> dict:
    status = copy.deepcopy(READY)
    ended = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for entry in status["containerStatuses"]:
        entry["ready"] = False
        entry["state"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ended, "finishedAt": ended}}
    return status


def scenario(store, settings):
    """Rows and pods for each kind of GROUPS; {island_id: kind}."""
    kube = FakeKubectl()

    def delete(call):  # the executor's `kubectl delete pod A B ...` (a few names each) of the expired islands' pods
        argv = shlex.split(call.command)
        for name in argv[argv.index("pod") + 1:]:
            if not name.startswith("--"):
                kube.pods_by_name.pop(name)
        return result("")

    kube.shell.on("delete pod", delete)
    kinds = {}
    for kind, count in GROUPS.items():
        for n in range(count):
            owner = f"owner-{kind}-{n}".replace("_", "-")
            row = store.allocate(owner, BRANCH, lambda i, o=owner: pod_name(o, BRANCH, i), {}, hash_token("x" * 32),
                                 settings.islands)
            kinds[row.island_id] = kind
            if kind == "release_stuck":
                continue  # allocated, never applied, no pod
            store.transition(row.island_id, row.generation, "applying", "Applying", "queued")
            if kind in ("lost", "expire"):
                store.transition(row.island_id, row.generation, "ready", "Ready", "server ready")
            if kind == "release":
                store.transition(row.island_id, row.generation, "lost", "PodMissing", "pod gone")
            if kind in ("sync", "skipped"):
                kube.apply([island_pod(settings, row, copy.deepcopy(READY))])
            elif kind == "expire":
                kube.apply([island_pod(settings, row, ended_status())])
    return kube, kinds


@pytest.mark.parametrize("batches_fail", [False, True], ids=["batched", "batch-fails-one-by-one"])
def test_moves_in_chunks_and_one_audit_write_give_the_outcomes_of_one_move_at_a_time(fresh_store, monkeypatch,
                                                                                     batches_fail):
    monkeypatch.setattr(recovery_executor, "MOVE_CHUNK", 4)
    settings = settings_for()
    kube, kinds = scenario(fresh_store, settings)
    racer = next(i for i, k in kinds.items() if k == "skipped")
    store = RacingStore(fresh_store, racer, batches_fail)
    owners = {r.island_id: r.owner_id for r in fresh_store.active()}

    report = run_recovery(settings, store, kube, Service(fresh_store))

    moves = sum(GROUPS.values())
    assert store.batches == [4] * (moves // 4) + ([moves % 4] if moves % 4 else [])
    assert len(store.batches) == math.ceil(moves / 4)
    by_island = {o.action.island_id: o for o in report.outcomes}
    assert set(by_island) == set(kinds)
    for island_id, kind in kinds.items():
        outcome = by_island[island_id]
        if kind == "skipped":
            assert (outcome.action.kind, outcome.status) == ("sync", "skipped"), outcome
        else:
            assert (outcome.action.kind, outcome.status) == (kind, "done"), outcome
        row = fresh_store.get(island_id)
        if FINAL[kind] == "deleted":
            assert row is None or row.state == "deleted", (kind, row)
        else:
            assert row.state == FINAL[kind], (kind, row)
        history = [e.to_state for e in fresh_store.events(island_id)]
        assert history[-1] == FINAL[kind] and history.count(FINAL[kind]) == 1, (kind, history)
    entries = fresh_store.audit_entries(actor="recover", limit=500)
    assert sorted((e.island_id, e.action) for e in entries) == sorted(
        (i, f"recover-{k.replace('_', '-')}") for i, k in kinds.items() if k != "skipped")
    assert all(e.owner_id == owners[e.island_id] and e.owner_id for e in entries)
    # the next run only releases the lost ones (lost_grace 0): nothing else was left undone
    again = run_recovery(settings, fresh_store, kube, Service(fresh_store), dry_run=True)
    assert sorted((o.action.kind, o.action.island_id) for o in again.outcomes) == sorted(
        ("release", i) for i, k in kinds.items() if k == "lost")


# -- kubectl's lists ------------------------------------------------------------------------------
POD_LIST = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "4711"},
            "items": [{"metadata": {"name": "altraserver-a-dev-3", "labels": {"island-ssh/id": "3"}},
                       "spec": {}, "status": {"phase": "Pending"}}]}


def test_pods_are_one_raw_list_of_the_namespace_with_the_lists_resource_version():
    shell = FakeShell({"get --raw": result(json.dumps(POD_LIST))})
    kubectl = Kubectl(shell)
    listing = kubectl.pods()
    assert shell.commands == [kubectl.command(
        "get", "--raw", "/api/v1/namespaces/default/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Disland-ssh",
        namespaced=False)]
    assert listing["metadata"]["resourceVersion"] == "4711"
    assert [(p["kind"], p["apiVersion"], p["metadata"]["name"]) for p in listing["items"]] == [
        ("Pod", "v1", "altraserver-a-dev-3")]
    kubectl.pods(selector="")
    assert shell.commands[-1].endswith(" get --raw /api/v1/namespaces/default/pods")


@pytest.mark.parametrize("answer", ["", "Welcome to the master!\n{", '{"items": [', "[1, 2]", '{"items": 5}'])
def test_a_garbled_list_is_a_kubectl_error_that_quotes_it(answer):
    shell = FakeShell({"get --raw": result(answer), "get nodes": result(answer)})
    kubectl = Kubectl(shell)
    for call, what in ((kubectl.pods, "kubectl get pods"), (kubectl.token_secrets, "kubectl get secrets"),
                       (kubectl.nodes, "kubectl get nodes")):
        with pytest.raises(KubectlError, match=what) as caught:
            call()
        assert "kube.kubectl" in caught.value.message or "not JSON" in caught.value.message
