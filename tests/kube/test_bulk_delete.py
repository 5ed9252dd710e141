"""Kubectl.delete_pods: many pods in a few small kubectl calls at once (kubectl throttles its own
requests to 5 a second after a burst of 10, so one call for many pods waits on itself).

Against the sandbox's API server with the real kubectl over the real sshd."""

from __future__ import annotations

import json
import threading

import pytest

from island_ssh.kube.kubectl import DELETE_CHUNK
from island_ssh.testing.waiting import wait_for

pytestmark = pytest.mark.slow


def plain_pods(env, prefix: str, count: int) -> list[str]:
    docs = [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": f"{prefix}-{i}", "labels": {"bulk-delete-test": prefix}},
             "spec": {"nodeName": "node-dev-1", "containers": [
                 {"name": "c", "image": "alpine", "command": ["/bin/sh", "-c", "tail -f /dev/null"]}]}}
            for i in range(count)]
    env.kubectl.run("create", "-f", "-", stdin="\n".join(json.dumps(d) for d in docs), timeout=120)
    return [d["metadata"]["name"] for d in docs]


def test_many_pods_go_in_small_concurrent_kubectl_calls_and_failures_name_their_pods(island_env):
    env = island_env
    names = plain_pods(env, "bulk", 3 * DELETE_CHUNK + 2)
    calls: list[list[str]] = []
    # the first two chunks that really run wait for each other: they can only pass if at once
    meeting, lock = threading.Barrier(2, timeout=60), threading.Lock()
    real_run = env.kubectl.run

    def recording_run(*args, **kwargs):
        if args[:2] == ("delete", "pod"):
            if "bulk-1" in args:  # one chunk fails as a whole (kubectl killed, the master gone...)
                with lock:
                    calls.append([a for a in args[2:] if not a.startswith("--")])
                raise RuntimeError("this chunk's kubectl failed")
            with lock:
                calls.append([a for a in args[2:] if not a.startswith("--")])
                meets = len([c for c in calls if "bulk-1" not in c]) <= 2
            if meets:
                try:
                    meeting.wait()
                except threading.BrokenBarrierError:
                    pass  # seen below as meeting.broken
        return real_run(*args, **kwargs)

    env.kubectl.run = recording_run
    try:
        failed = env.kubectl.delete_pods(names + ["never-existed"], grace_period=0, force=True, wait=True)
    finally:
        del env.kubectl.run
    # every pod named in exactly one call of at most DELETE_CHUNK names; gone ones are fine
    assert sorted(sum(calls, [])) == sorted(names + ["never-existed"])
    assert max(len(c) for c in calls) <= DELETE_CHUNK and len(calls) == 4
    assert not meeting.broken, "two chunks' kubectl calls never ran at once"
    failed_chunk = next(c for c in calls if "bulk-1" in c)
    assert sorted(failed) == sorted(failed_chunk) and all("failed" in str(e) for e in failed.values())
    left = {p["metadata"]["name"] for p in env.kubectl.pods(selector="bulk-delete-test=bulk").get("items", [])}
    assert left == set(failed_chunk) - {"never-existed"}
    assert not env.kubectl.delete_pods(sorted(left), grace_period=0, force=True, wait=True)
    assert not env.kubectl.pods(selector="bulk-delete-test=bulk").get("items")


def test_pods_still_there_after_the_timeout_are_named_with_why(island_env):
    env = island_env
    names = plain_pods(env, "slow", 2)
    wait_for(lambda: all((p.get("status") or {}).get("phase") == "Running"
                         for p in env.kubectl.pods(selector="bulk-delete-test=slow").get("items", [])),
             60, "both pods running")
    # PID 1 of each (sh running tail) ignores SIGTERM: the pods stay for their whole 30 s grace
    failed = env.kubectl.delete_pods(names, grace_period=30, wait=True, timeout=1.0, poll=0.2)
    assert sorted(failed) == names
    assert all("still there 1s after its delete" in str(e) for e in failed.values())
    assert not env.kubectl.delete_pods(names, grace_period=0, force=True, wait=True, timeout=60)
