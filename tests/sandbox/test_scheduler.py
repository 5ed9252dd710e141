"""The scheduler's pure decision function, with plain API objects."""

from __future__ import annotations

import pytest

from island_sandbox.cluster import node_object
from island_ssh.core.quantity import parse_quantity
from island_sandbox.scheduler import memory_request, schedule_pod, unschedulable_message

GI = 2**30
TAIL_3 = "preemption: 0/3 nodes are available: "


def nodes():
    return [node_object("node-dev-1", "127.0.0.11", {"branch": "dev"}, 4 * GI),
            node_object("node-dev-2", "127.0.0.12", {"branch": "dev"}, 4 * GI),
            node_object("node-weekly-1", "127.0.0.13", {"branch": "weekly"}, 4 * GI)]


def pod(name, *, branch=None, memory=(), ports=(), node=None, phase="Pending"):
    containers = [{"name": f"c{i}", "image": "x", "resources": {"requests": {"memory": m}}}
                  for i, m in enumerate(memory)] or [{"name": "c0", "image": "x"}]
    if ports:
        containers[0]["ports"] = [{"containerPort": p, "hostPort": p, "protocol": "TCP"} for p in ports]
    spec = {"containers": containers}
    if branch:
        spec["nodeSelector"] = {"branch": branch}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "uid": f"uid-{name}"}, "spec": spec, "status": {"phase": phase}}


@pytest.mark.parametrize("text,value", [("1500Mi", 1500 * 2**20), ("2Gi", 2 * GI), ("512M", 512 * 10**6),
                                        ("1e3", 1000), ("4194304Ki", 4 * GI), ("250m", 1), (128, 128)])
def test_quantities(text, value):
    assert parse_quantity(text) == value


def test_memory_request_sums_containers():
    assert memory_request(pod("p", memory=("1500Mi", "512M"))) == 1500 * 2**20 + 512 * 10**6


def test_node_selector_picks_matching_node():
    assert schedule_pod(pod("p", branch="weekly"), nodes(), []).node == "node-weekly-1"


def test_spread_prefers_least_allocated_then_name():
    busy = [pod("a", branch="dev", memory=("1Gi",), node="node-dev-1", phase="Running")]
    assert schedule_pod(pod("p", branch="dev", memory=("1Gi",)), nodes(), busy).node == "node-dev-2"
    assert schedule_pod(pod("p", branch="dev", memory=("1Gi",)), nodes(), []).node == "node-dev-1"


def test_insufficient_memory_message():
    d = schedule_pod(pod("p", branch="dev", memory=("5Gi",)), nodes(), [])
    assert d.node is None
    assert d.message == ("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
                         "2 Insufficient memory. " + TAIL_3 + "1 Preemption is not helpful for scheduling, "
                         "2 No preemption victims found for incoming pod..")


def test_memory_is_counted_against_bound_pods_and_freed_by_terminal_ones():
    running = [pod("a", memory=("3Gi",), node="node-weekly-1", phase="Running")]
    assert schedule_pod(pod("p", branch="weekly", memory=("1500Mi",)), nodes(), running).node is None
    finished = [pod("a", memory=("3Gi",), node="node-weekly-1", phase="Failed")]
    assert schedule_pod(pod("p", branch="weekly", memory=("1500Mi",)), nodes(), finished).node == "node-weekly-1"


def test_host_port_clash_message_and_other_node_used():
    holder = [pod("a", ports=(30807,), node="node-dev-1", phase="Running")]
    assert schedule_pod(pod("p", branch="dev", ports=(30807,)), nodes(), holder).node == "node-dev-2"
    d = schedule_pod(pod("p", branch="weekly", ports=(30807, 30808)),
                     nodes(), [pod("a", ports=(30808,), node="node-weekly-1", phase="Running")])
    assert d.message == ("0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, "
                         "2 node(s) didn't match Pod's node affinity/selector. " + TAIL_3 +
                         "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling..")


def test_reasons_are_sorted_as_strings_like_the_real_histogram():
    msg = unschedulable_message(12, {f"n{i}": "Insufficient memory" for i in range(10)}
                                | {"x": "node(s) didn't match Pod's node affinity/selector",
                                   "y": "node(s) didn't match Pod's node affinity/selector"})
    assert msg.startswith("0/12 nodes are available: 10 Insufficient memory, 2 node(s) didn't match")


def test_missing_claim_is_a_prefilter_failure():
    d = schedule_pod(pod("p"), nodes(), [], prefilter_problem='persistentvolumeclaim "c" not found')
    assert d.message == ('0/3 nodes are available: persistentvolumeclaim "c" not found. ' + TAIL_3 +
                         "3 No preemption victims found for incoming pod..")


def test_no_nodes():
    assert schedule_pod(pod("p"), [], []).message == "no nodes available to schedule pods"
