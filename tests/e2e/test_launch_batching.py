"""Launches arriving together share one kubectl apply (group commit), each with its own outcome.

On the sandbox with real kubectl over the real sshd. The first apply is held (a real apply, only
started late) until the others have queued behind it, so the batching is certain, not timing luck.
"""

from __future__ import annotations

import json
import threading

import pytest

from island_ssh.resources import load_template
from island_ssh.core.errors import KubectlError
from island_ssh.core.manifests import IslandSpec, render_pod
from island_ssh.service.islands import IslandService, LaunchRequest
from island_ssh.kube.tracker import GENERATION_LABEL
from island_ssh.testing.waiting import wait_for

pytestmark = pytest.mark.slow


class HeldApply:
    """Wraps kubectl.apply: records each call's pod names; the first waits for ``release``."""

    def __init__(self, kubectl) -> None:
        self.kubectl, self.real = kubectl, kubectl.apply
        self.calls: list[list[str]] = []
        self.release, self.holding = threading.Event(), threading.Event()

    def __call__(self, docs, timeout=60.0):
        docs = list(docs)
        # the pods only: each island's token Secret travels in the same apply, just before its pod
        self.calls.append([d["metadata"]["name"] for d in docs if d.get("kind") == "Pod"])
        if len(self.calls) == 1:
            self.holding.set()
            assert self.release.wait(60), "the test never released the first apply"
        return self.real(docs, timeout=timeout)

    def __enter__(self):
        self.kubectl.apply = self
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.kubectl.apply = self.real


def in_thread(call, *args, **kwargs):
    """Run call in a thread; the box gets its "row" or its "error"."""
    box: dict = {}

    def run():
        try:
            box["row"] = call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            box["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def launch_in_thread(service, request):
    return in_thread(service.launch, request)


def test_launches_queued_behind_an_apply_share_the_next_one(island_env):
    env = island_env
    service = IslandService(env.settings, env.store, env.kubectl)
    with HeldApply(env.kubectl) as held:
        first = launch_in_thread(service, LaunchRequest(owner="batch-lead", branch="dev"))
        assert held.holding.wait(60)
        others = [launch_in_thread(service, LaunchRequest(owner=f"批量{i}", branch="weekly" if i % 2 else "dev"))
                  for i in range(6)]
        wait_for(lambda: service._applies.queued == 6, 60, "six launches queued behind the held apply")
        held.release.set()
        for thread, box in [first] + others:
            thread.join(120)
            assert "row" in box, box
    assert len(held.calls) == 2 and len(held.calls[1]) == 6
    rows = [box["row"] for _, box in [first] + others]
    assert len({r.island_id for r in rows}) == 7
    for row in rows:
        assert env.store.get(row.island_id).state not in ("allocated", "deleted")
        assert env.kubectl.pod(row.pod_name) is not None
    env.cleanup()


def test_one_failed_document_fails_only_its_own_launch(island_env):
    env = island_env
    service = IslandService(env.settings, env.store, env.kubectl)
    victim_owner = "王小明"
    leftover = None
    try:
        with HeldApply(env.kubectl) as held:
            lead = launch_in_thread(service, LaunchRequest(owner="lead", branch="weekly"))
            assert held.holding.wait(60)
            # the id the next launch gets: allocate and release it (the lowest free id comes back)
            probe = env.store.allocate(owner="probe", branch="dev", pod_name_fn=lambda i: f"probe-{i}",
                                       overrides={}, token_hash="a" * 64, settings=env.settings.islands)
            env.store.release(probe.island_id, probe.generation, "TestProbe")
            # a leftover pod of an earlier generation holding that island's name, with another
            # command: applying the new pod over it changes an immutable field, which is refused
            leftover = render_pod(IslandSpec(island_id=probe.island_id, owner=victim_owner, branch="dev",
                                             token="L" * 24), env.settings.islands, env.settings.kube.namespace,
                                  load_template("pod"))
            leftover["metadata"]["labels"][GENERATION_LABEL] = "999"
            leftover["spec"]["containers"][0]["command"].append("--leftover")
            env.kubectl.run("create", "-f", "-", stdin=json.dumps(leftover))
            victim = launch_in_thread(service, LaunchRequest(owner=victim_owner, branch="dev"))
            wait_for(lambda: service._applies.queued == 1, 60, "the victim queued")
            bystander = launch_in_thread(service, LaunchRequest(owner="bystander", branch="dev"))
            wait_for(lambda: service._applies.queued == 2, 60, "the bystander queued")
            held.release.set()
            for thread, _ in (lead, victim, bystander):
                thread.join(120)
        assert len(held.calls) == 2 and len(held.calls[1]) == 2
        assert held.calls[1][0] == leftover["metadata"]["name"]
        error = victim[1].get("error")
        assert isinstance(error, KubectlError) and "Forbidden" in error.message, victim[1]
        row = env.store.get(probe.island_id)
        assert (row.owner, row.state, row.reason) == (victim_owner, "deleted", "ApplyFailed")
        assert "row" in bystander[1] and "row" in lead[1], (bystander, lead)
        assert env.store.get(bystander[1]["row"].island_id).state not in ("allocated", "deleted")
    finally:
        if leftover is not None:
            env.kubectl.delete_pod(leftover["metadata"]["name"], grace_period=0, force=True, wait=True)
        env.cleanup()


def test_a_background_launch_returns_before_its_apply_and_the_apply_still_happens(island_env):
    env = island_env
    service = IslandService(env.settings, env.store, env.kubectl)
    with HeldApply(env.kubectl) as held:
        row = service.launch(LaunchRequest(owner="后台", branch="dev"), background=True)
        assert held.holding.wait(60)
        # returned while kubectl apply is still held: the row says applying, no pod yet
        assert row.state == "applying" and env.kubectl.pod(row.pod_name) is None
        held.release.set()
        env.wait_state(row.island_id, ("pending", "creating", "starting", "ready"))
    assert env.kubectl.pod(row.pod_name) is not None
    env.cleanup()


def test_deleting_an_island_whose_background_apply_is_queued_leaves_no_pod(island_env):
    env = island_env
    service = IslandService(env.settings, env.store, env.kubectl)
    with HeldApply(env.kubectl) as held:
        first = service.launch(LaunchRequest(owner="first", branch="dev"), background=True)
        assert held.holding.wait(60)
        queued = service.launch(LaunchRequest(owner="queued", branch="dev"), background=True)
        assert service._applies.queued == 1
        thread, box = in_thread(service.delete, queued.island_id, wait=True)
        held.release.set()
        thread.join(120)
    assert "row" in box, box
    # the delete waited for the queued apply, then removed the pod it made: no orphan, id free
    assert box["row"].state == "deleted"
    wait_for(lambda: env.kubectl.pod(queued.pod_name) is None, 60, "the queued island's pod gone")
    assert env.store.get(first.island_id).state not in ("allocated", "applying", "deleted")
    env.cleanup()
