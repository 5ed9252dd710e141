"""Cluster logic in-process: kubelet status merging, graceful and forced deletion, rescheduling.

The kubelet here is the test-only StandInKubelet (tests/sandbox/standin_kubelet.py)."""

from __future__ import annotations

import asyncio
import copy

from island_sandbox import admission
from island_sandbox.cluster import Cluster
from island_sandbox.objects import ObjectStore
from sandbox.standin_kubelet import NodeInfo, StandInKubelet

GI = 2**30


def make_cluster() -> tuple[Cluster, list]:
    store = ObjectStore()
    cluster = Cluster(store)
    cluster.add_namespace("default")
    for i, (name, branch) in enumerate((("dev-1", "dev"), ("weekly-1", "weekly"))):
        info = NodeInfo(name, f"127.0.0.{11 + i}", {"branch": branch}, 2 * GI)
        cluster.add_node(name, info.ip, info.labels, info.memory_bytes,
                         StandInKubelet(info, state_dir=None, images=None, report=cluster.report_for(name)))
    events: list = []
    store.listeners.append(lambda e: events.append((e.type, e.obj["metadata"]["name"], e.obj)))
    return cluster, events


def new_pod(name: str, branch: str = "dev", memory: str = "1500Mi") -> dict:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"nodeSelector": {"branch": branch}, "terminationGracePeriodSeconds": 3,
                    "containers": [{"name": "c", "image": "alpine", "resources": {"requests": {"memory": memory}}}]}}
    return admission.default_pod(pod)


async def settle(cluster: Cluster) -> None:
    await cluster.scheduler.run_once()
    await asyncio.sleep(0)


def test_status_merge_keeps_pod_scheduled_and_ignores_gone_pods():
    async def scenario():
        cluster, events = make_cluster()
        cluster.store.create("pods", new_pod("a"))
        await settle(cluster)
        pod = cluster.store.get("pods", "default", "a")
        assert pod["spec"]["nodeName"] == "dev-1" and pod["status"]["phase"] == "Running"
        assert [c["type"] for c in pod["status"]["conditions"]][-1] == "PodScheduled"
        assert pod["status"]["qosClass"] == "Burstable"
        before = len(events)
        report = cluster.report_for("dev-1")
        report("default", "a", {k: v for k, v in copy.deepcopy(pod["status"]).items() if k != "qosClass"})
        assert len(events) == before  # nothing changed, nothing emitted
        cluster.report_for("weekly-1")("default", "a", {"phase": "Failed"})  # not that node's pod
        report("default", "ghost", {"phase": "Running"})
        assert len(events) == before and cluster.store.get("pods", "default", "ghost") is None
    asyncio.run(scenario())


def test_graceful_delete_then_reschedule_the_waiting_pod():
    async def scenario():
        cluster, events = make_cluster()
        cluster.store.create("pods", new_pod("first"))
        cluster.store.create("pods", new_pod("second"))
        await settle(cluster)
        second = cluster.store.get("pods", "default", "second")
        assert "Insufficient memory" in second["status"]["conditions"][-1]["message"]
        terminating = await cluster.delete_pod("default", "first", None)
        assert terminating["metadata"]["deletionGracePeriodSeconds"] == 3
        await asyncio.gather(*cluster._tasks)
        assert cluster.store.get("pods", "default", "first") is None
        kinds = [(t, n) for t, n, _ in events if n == "first"]
        assert kinds[-1] == ("DELETED", "first")
        await settle(cluster)
        assert cluster.store.get("pods", "default", "second")["spec"]["nodeName"] == "dev-1"
    asyncio.run(scenario())


def test_force_delete_and_unscheduled_pods_go_at_once():
    async def scenario():
        cluster, _ = make_cluster()
        cluster.store.create("pods", new_pod("pending", branch="nowhere"))
        await cluster.delete_pod("default", "pending", None)
        assert cluster.store.get("pods", "default", "pending") is None
        cluster.store.create("pods", new_pod("running"))
        await settle(cluster)
        gone = await cluster.delete_pod("default", "running", 0)
        assert cluster.store.get("pods", "default", "running") is None
        # the object went at once, as it was; the kubelet stops the containers afterwards
        assert "running" in gone["status"]["containerStatuses"][0]["state"]
        await asyncio.gather(*cluster._tasks)
        assert cluster.kubelets["dev-1"].pods() == []
    asyncio.run(scenario())


def test_pod_created_with_node_name_bypasses_the_scheduler():
    async def scenario():
        cluster, _ = make_cluster()
        prebound = new_pod("prebound", branch="dev")
        prebound["spec"]["nodeName"] = "weekly-1"  # a real kubelet runs what is bound to it, selector or not
        cluster.store.create("pods", prebound)
        await asyncio.gather(*cluster._tasks)
        assert cluster.store.get("pods", "default", "prebound")["status"]["hostIP"] == "127.0.0.12"
    asyncio.run(scenario())
