"""The scheduler's incremental parts: the node-info cache kept from events must decide exactly as
a decision from every object at once would, and the queue must park unschedulable pods until a
release, not re-decide them on every change (that was O(pods^2) per burst)."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given, settings, strategies as st

from island_sandbox.scheduler import SchedulerCache, SchedulingQueue, schedule_on, schedule_pod

from .test_apiserver_cluster import make_cluster, new_pod, settle
from .test_scheduler import GI, nodes, pod

NODE_NAMES = ["node-dev-1", "node-dev-2", "node-weekly-1", "node-gone"]

# one step: bind a pod somewhere, finish it, delete it, or change a node
steps = st.one_of(
    st.tuples(st.just("bind"), st.integers(0, 7), st.sampled_from(NODE_NAMES),
              st.sampled_from(["512Mi", "1Gi", "1500Mi", "3Gi"]),
              st.lists(st.sampled_from([30807, 30808, 30809]), max_size=2, unique=True),
              st.sampled_from(["0.0.0.0", "127.0.0.11", "127.0.0.12"])),
    st.tuples(st.just("finish"), st.integers(0, 7)),
    st.tuples(st.just("delete"), st.integers(0, 7)),
    st.tuples(st.just("cordon"), st.sampled_from(NODE_NAMES[:3]), st.booleans()),
    st.tuples(st.just("drop_node"), st.sampled_from(NODE_NAMES[:3])),
    st.tuples(st.just("add_node"), st.sampled_from(NODE_NAMES)),
)


def bound(name, node, memory, ports, host_ip):
    p = pod(name, memory=(memory,), ports=tuple(ports), node=node, phase="Running")
    for port in p["spec"]["containers"][0].get("ports") or []:
        port["hostIP"] = host_ip
    return p


def all_nodes():
    from island_sandbox.cluster import node_object
    return {n["metadata"]["name"]: n for n in nodes()} | {
        "node-gone": node_object("node-gone", "127.0.0.14", {"branch": "dev"}, 4 * GI)}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(steps, max_size=25),
       st.sampled_from([None, "dev", "weekly"]), st.sampled_from(["1Gi", "2Gi", "4Gi"]),
       st.lists(st.sampled_from([30807, 30808, 30809]), max_size=2, unique=True),
       st.sampled_from(["0.0.0.0", "127.0.0.11"]))
def test_cache_fed_by_events_decides_as_the_whole_cluster_would(ops, branch, memory, ports, host_ip):
    known = all_nodes()
    live_nodes = {name: known[name] for name in NODE_NAMES[:3]}
    pods: dict[str, dict] = {}
    cache = SchedulerCache.of(live_nodes.values(), [])
    for op in ops:
        if op[0] == "bind":
            _, i, node, mem, pports, ip = op
            pods[f"p{i}"] = bound(f"p{i}", node, mem, pports, ip)
            cache.set_pod(pods[f"p{i}"])
        elif op[0] == "finish" and f"p{op[1]}" in pods:
            pods[f"p{op[1]}"]["status"]["phase"] = "Succeeded"
            cache.set_pod(pods[f"p{op[1]}"])
        elif op[0] == "delete" and f"p{op[1]}" in pods:
            cache.remove_pod(pods.pop(f"p{op[1]}")["metadata"]["uid"])
        elif op[0] == "cordon" and op[1] in live_nodes:
            live_nodes[op[1]]["spec"]["unschedulable"] = op[2]
            cache.set_node(live_nodes[op[1]])
        elif op[0] == "drop_node" and op[1] in live_nodes:
            del live_nodes[op[1]]
            cache.remove_node(op[1])
        elif op[0] == "add_node":
            live_nodes[op[1]] = known[op[1]]
            cache.set_node(known[op[1]])
    wanted = bound("new", None, memory, ports, host_ip)
    wanted["spec"].pop("nodeName", None)
    wanted["status"]["phase"] = "Pending"
    if branch:
        wanted["spec"]["nodeSelector"] = {"branch": branch}
    assert schedule_on(wanted, cache.infos()) == schedule_pod(wanted, list(live_nodes.values()), list(pods.values()))
    # and a from-scratch cache holds the same totals
    fresh = SchedulerCache.of(live_nodes.values(), pods.values())
    assert {n: (i.requested, +i.ports) for n, i in cache.nodes.items()} == \
        {n: (i.requested, +i.ports) for n, i in fresh.nodes.items()}


def test_a_pod_counted_on_its_own_node_does_not_compete_with_itself():
    running = pod("p", memory=("3Gi",), ports=(30807,), node="node-dev-1", phase="Running")
    cache = SchedulerCache.of(nodes(), [running])
    running["spec"]["nodeSelector"] = {"branch": "dev"}
    # counted against itself, dev-1 would be full (3Gi of 4Gi, port 30807 taken): it would go to dev-2
    assert schedule_on(running, cache.infos()).node == "node-dev-1"
    other = pod("q", branch="dev", memory=("3Gi",), ports=(30807,))
    assert schedule_on(other, cache.infos()).node == "node-dev-2"
    assert cache.nodes["node-dev-1"].requested == 3 * GI  # asking changed nothing


def test_queue_orders_by_creation_and_parks_until_moved():
    queue = SchedulingQueue()
    queue.add(("default", "b"), 7)
    queue.add(("default", "a"), 3)
    queue.add(("default", "c"), 9)
    assert [k for k, _ in queue.pop_active()] == [("default", "a"), ("default", "b"), ("default", "c")]
    assert queue.active == 0
    queue.park(("default", "a"), 3)
    queue.park(("default", "b"), 7)
    assert (queue.active, queue.parked) == (0, 2)
    queue.forget(("default", "b"))
    queue.move_all_to_active()
    assert queue.pop_active() == [(("default", "a"), 3)]
    queue.add(("default", "d"), 11)
    queue.add(("default", "d"), 15)  # already waiting: keeps its place in line
    assert queue.pop_active() == [(("default", "d"), 11)]


def test_parked_pods_are_not_redecided_on_unrelated_changes_but_retried_on_release():
    async def scenario():
        cluster, _ = make_cluster()
        decided: list[str] = []
        decide = cluster._decide
        cluster.scheduler._decide = lambda p: decided.append(p["metadata"]["name"]) or decide(p)
        cluster.store.create("pods", new_pod("holder"))
        for i in range(5):
            cluster.store.create("pods", new_pod(f"waiting{i}"))
        await settle(cluster)
        assert decided == ["holder"] + [f"waiting{i}" for i in range(5)]
        assert cluster.scheduler.queue.parked == 5
        decided.clear()
        for i in range(20):  # pods that fit elsewhere come and go, and go bound: no release on dev-1
            cluster.store.create("pods", new_pod(f"weekly{i}", branch="weekly", memory="1Mi"))
            await settle(cluster)
        assert decided == [f"weekly{i}" for i in range(20)]
        decided.clear()
        await cluster.delete_pod("default", "holder", 0)
        await settle(cluster)
        assert decided == [f"waiting{i}" for i in range(5)]  # oldest first, once each
        assert cluster.store.get("pods", "default", "waiting0")["spec"]["nodeName"] == "dev-1"
        assert cluster.scheduler.queue.parked == 4
        for i in range(1, 5):
            assert "Insufficient memory" in cluster.store.get("pods", "default", f"waiting{i}")["status"]["conditions"][-1]["message"]
    asyncio.run(scenario())


async def park_a_pod_no_node_fits(cluster) -> asyncio.Event:
    """Create pod "big" (64Gi: fits nowhere), let it be parked; the Event is set when the
    scheduler decides it again."""
    cluster.store.create("pods", new_pod("big", memory="64Gi"))
    await settle(cluster)
    assert cluster.scheduler.queue.parked == 1
    retried = asyncio.Event()
    decide = cluster._decide
    cluster.scheduler._decide = lambda p: (p["metadata"]["name"] == "big" and retried.set()) or decide(p)
    return retried


@contextlib.asynccontextmanager
async def scheduler_running(cluster, flush_seconds: float):
    cluster.scheduler.flush_seconds = flush_seconds
    cluster.start()
    try:
        async with asyncio.timeout(10):
            yield
    finally:
        await cluster.scheduler.stop()


def test_a_parked_pod_is_retried_when_a_node_joins_and_after_the_flush():
    async def scenario():
        cluster, _ = make_cluster()
        cluster.store.create("pods", new_pod("lost", branch="nightly"))
        await settle(cluster)
        assert cluster.scheduler.queue.parked == 1
        cluster.add_node("nightly-1", "127.0.0.13", {"branch": "nightly"}, 2 * GI)  # no kubelet: stays bound
        await settle(cluster)
        assert cluster.store.get("pods", "default", "lost")["spec"]["nodeName"] == "nightly-1"

        retried = await park_a_pod_no_node_fits(cluster)
        async with scheduler_running(cluster, flush_seconds=0.05):
            await retried.wait()  # the flush re-tried it with nothing else happening
    asyncio.run(scenario())


def test_the_flush_comes_due_even_while_new_pods_keep_the_scheduler_busy():
    async def scenario():
        cluster, _ = make_cluster()
        retried = await park_a_pod_no_node_fits(cluster)
        i = 0
        async with scheduler_running(cluster, flush_seconds=0.3):
            while not retried.is_set():  # a new pod every 20 ms: the loop never idles 0.3 s
                cluster.store.create("pods", new_pod(f"small{i}", branch="weekly", memory="1Ki"))
                i += 1
                await asyncio.sleep(0.02)
        assert i > 0
    asyncio.run(scenario())
