"""Forced deletes (DeleteOptions gracePeriodSeconds=0, `kubectl delete --grace-period=0 --force`).

As a real API server: the object goes at once (GET 404, the watch's DELETED event) and the
kubelet stops the containers afterwards, as a v1.31+ kubelet does for a force-deleted pod:
SIGTERM, SIGKILL 2 s later (cluster.FORCED_STOP_GRACE). The kubelet keys its pods by uid, so a
pod re-created under the same name meanwhile runs beside the old incarnation, and neither touches
the other's processes, status reports, exec or logs.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from fixtures.sandbox import real_kubelet_available, running_sandbox_cluster, wait_for
from island_sandbox import admission, cluster as cluster_module
from island_sandbox.cluster import FORCED_STOP_GRACE, Cluster
from island_sandbox.images import ImageResolver
from island_sandbox.kubelet import Kubelet, NodeInfo
from island_sandbox.kubelet_harness import random_node_ip, running_kubelet
from island_sandbox.objects import ObjectStore
from island_sandbox.status_recorder import state_of

from .helpers import LineReader

pytestmark = pytest.mark.skipif(not real_kubelet_available(), reason="needs the real sandbox kubelet")

NS = "default"
# PID 1 of the container traps SIGTERM and carries on: only the SIGKILL after the grace ends it
TRAPPING = "trap 'echo got-TERM' TERM; echo generation $GEN; while :; do sleep 0.1; done"


def trapping_pod(name: str, generation: int, node: str | None = None, uid: str | None = None) -> dict:
    spec: dict = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 30,
                  "containers": [{"name": "c", "image": "alpine:3.14.1", "command": ["/bin/sh", "-c", TRAPPING],
                                  "env": [{"name": "GEN", "value": str(generation)}]}]}
    if node:
        spec["nodeName"] = node
    meta: dict = {"name": name, "namespace": NS}
    if uid:
        meta["uid"] = uid
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def alive(pids) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def lasting_pids(kubelet: Kubelet, name: str, uid: str) -> list[int]:
    """unshare and the container's init per container (not the short-lived `sleep` children)."""
    return [pid for group in kubelet.host_pids(NS, name, uid).values() for pid in group[:2]]


async def until(probe, timeout: float, what: str, interval: float = 0.05):
    """Poll a (sync) probe until it returns something truthy; AssertionError naming ``what`` on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := probe()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(interval)
    return value


# -- through the real API server, with kubectl's watch --------------------------------------------
@pytest.fixture(scope="module")
def box(tmp_path_factory):
    with running_sandbox_cluster(tmp_path_factory.mktemp("forced-delete")) as cluster:
        yield cluster


def test_forced_delete_removes_the_object_before_the_containers_stop(box):
    path = f"/api/v1/namespaces/{NS}/pods/slow-to-die"
    status, created = box.api("POST", f"/api/v1/namespaces/{NS}/pods", trapping_pod("slow-to-die", 1))
    assert status == 201, created
    uid = created["metadata"]["uid"]

    def started():
        pod = box.api("GET", path)[1]
        node = pod["spec"].get("nodeName")
        log = box.state_dir / "nodes" / str(node) / "pods" / f"{NS}_slow-to-die_{uid}" / "c.log"
        return log if pod["status"].get("phase") == "Running" and log.exists() \
            and b"generation 1" in log.read_bytes() else None
    log = wait_for(started, 20, "the trapping pod running")
    watch = LineReader(box.kubectl_popen("get", "pod", "slow-to-die", "--watch", "--output-watch-events",
                                         "-o", "json"))
    try:
        watch.events_until(lambda ev: any(e["type"] == "ADDED" for e in ev), 10)
        asked = time.monotonic()
        status, gone = box.api("DELETE", path, {"gracePeriodSeconds": 0})
        replied = time.monotonic()
        assert status == 200 and gone["metadata"]["uid"] == uid
        assert box.api("GET", path)[0] == 404
        # the reply came before the kubelet stopped anything: the container still runs
        assert log.parent.exists(), (f"the pod was stopped before the API object went "
                                     f"(the DELETE answered after {replied - asked:.1f}s)")
        events = watch.events_until(lambda ev: any(e["type"] == "DELETED" for e in ev), 20)
        assert events[-1]["object"]["metadata"]["uid"] == uid
    finally:
        watch.stop()
    # SIGTERM first (the trap ran), the whole pod gone only after the 2 s grace
    wait_for(lambda: not log.exists() or b"got-TERM" in log.read_bytes(), 10, "the container's SIGTERM trap")
    wait_for(lambda: not log.parent.exists(), FORCED_STOP_GRACE + 10, "the force-deleted pod's directory removed")
    assert time.monotonic() - asked >= FORCED_STOP_GRACE - 0.5


# -- in-process: the control plane and one real kubelet --------------------------------------------
def test_a_pod_recreated_under_the_same_name_runs_beside_the_stopping_one(tmp_path, monkeypatch):
    """The old incarnation stops while the new one starts and runs; the old one's stop neither
    kills nor reports over the new one; exec and logs reach the new one."""
    monkeypatch.setattr(cluster_module, "FORCED_STOP_GRACE", 5.0)  # a wide overlap on a loaded machine

    async def scenario():
        store = ObjectStore()
        cluster = Cluster(store)
        cluster.add_namespace(NS)
        info = NodeInfo("node-a", random_node_ip(), {}, 8 << 30)
        kubelet = Kubelet(info, state_dir=tmp_path / "state", images=ImageResolver(),
                          report=cluster.report_for("node-a"))
        cluster.add_node("node-a", info.ip, {}, info.memory_bytes, kubelet)
        seen: list[tuple[str, str, dict]] = []
        store.listeners.append(lambda e: seen.append((e.type, e.obj["metadata"]["uid"], e.obj)))

        def running(uid: str):
            pod = store.get("pods", NS, "reborn")
            return pod is not None and pod["metadata"]["uid"] == uid and pod["status"].get("phase") == "Running"

        def log_of(uid: str | None = None) -> bytes:
            target, container = cluster.kubelet_for(NS, "reborn", None)
            return (target.logs(NS, "reborn", container) if uid is None
                    else kubelet.logs(NS, "reborn", "c", uid=uid))
        try:
            old_uid = store.create("pods", admission.default_pod(trapping_pod("reborn", 1, "node-a")))
            old_uid = old_uid["metadata"]["uid"]
            await until(lambda: running(old_uid) and b"generation 1" in log_of(), 20, "generation 1 running")
            old_pids = lasting_pids(kubelet, "reborn", old_uid)

            asked = asyncio.get_running_loop().time()
            await cluster.delete_pod(NS, "reborn", 0)
            assert asyncio.get_running_loop().time() - asked < 2.0
            assert store.get("pods", NS, "reborn") is None and seen[-1][:2] == ("DELETED", old_uid)

            new_uid = store.create("pods", admission.default_pod(trapping_pod("reborn", 2, "node-a")))
            new_uid = new_uid["metadata"]["uid"]
            assert new_uid != old_uid
            await until(lambda: running(new_uid) and b"generation 2" in log_of(), 20, "generation 2 running")
            # both incarnations on the node: the old one still in its grace period, trapping SIGTERM
            assert kubelet.uids(NS, "reborn") == [old_uid, new_uid]
            await until(lambda: b"got-TERM" in log_of(old_uid), 5, "the old incarnation's SIGTERM trap")
            assert alive(old_pids) == old_pids
            new_pids = lasting_pids(kubelet, "reborn", new_uid)

            # exec and logs through the API's path reach the incarnation the object names
            target, container = cluster.kubelet_for(NS, "reborn", None)
            code, out, _ = await target.exec(NS, "reborn", container, ["sh", "-c", "echo $GEN"], None, 10)
            assert (code, out) == (0, b"2\n")
            assert log_of() == b"generation 2\n"

            await until(lambda: kubelet.uids(NS, "reborn") == [new_uid], 15, "the old incarnation stopped")
            assert alive(old_pids) == [] and alive(new_pids) == new_pids
            # the old one's last report (terminated by SIGKILL) never landed on the new object
            pod = store.get("pods", NS, "reborn")
            assert pod["metadata"]["uid"] == new_uid and pod["status"]["phase"] == "Running"
            assert state_of(pod["status"], "c")[0] == "running"
            assert not [obj for kind, uid, obj in seen if uid == new_uid
                        and "terminated" in json.dumps(obj["status"].get("containerStatuses"))]
            # a forced delete's stop still runs when the server shuts down: the shutdown waits for it
            await cluster.delete_pod(NS, "reborn", 0)
            assert kubelet.uids(NS, "reborn") == [new_uid] and alive(new_pids) == new_pids
        finally:
            await asyncio.wait_for(cluster.shutdown(), 60)
        assert kubelet.pods() == [] and alive(new_pids) == [] and not cluster._stops
    asyncio.run(asyncio.wait_for(scenario(), 90))


# -- the kubelet alone -----------------------------------------------------------------------------
def test_kubelet_keeps_two_incarnations_of_one_name_apart(tmp_path):
    async def scenario():
        async with running_kubelet(tmp_path / "state", random_node_ip()) as (kubelet, rec):
            for generation, uid in ((1, "uid-old"), (2, "uid-new")):
                await kubelet.start_pod(trapping_pod("twin", generation, kubelet.node.name, uid), {})
            for uid in ("uid-old", "uid-new"):
                await until(lambda: any(s["phase"] == "Running" for s in rec.by_uid.get(uid, [])), 20,
                            f"{uid} running")
            assert kubelet.uids(NS, "twin") == ["uid-old", "uid-new"]
            assert kubelet.pods() == [(NS, "twin"), (NS, "twin")]
            code, out, _ = await kubelet.exec(NS, "twin", "c", ["sh", "-c", "echo $GEN"], None, 10, uid="uid-old")
            assert out == b"1\n"
            new_pids = lasting_pids(kubelet, "twin", "uid-new")

            await kubelet.stop_pod(NS, "twin", 0, uid="uid-old")
            assert kubelet.uids(NS, "twin") == ["uid-new"] and alive(new_pids) == new_pids
            assert state_of(rec.by_uid["uid-old"][-1], "c")[0] == "terminated"
            assert state_of(rec.by_uid["uid-new"][-1], "c")[0] == "running"
            # without a uid a name means the incarnation that is not stopping
            code, out, _ = await kubelet.exec(NS, "twin", "c", ["sh", "-c", "echo $GEN"], None, 10)
            assert out == b"2\n"
            await until(lambda: b"generation 2" in kubelet.logs(NS, "twin", "c"), 5, "generation 2's log")
    asyncio.run(asyncio.wait_for(scenario(), 90))
