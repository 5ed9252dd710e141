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


def take_the_next_ids_name(env, owner: str):
    """The id the next launch gets (allocated and released: the lowest free id comes back), and a
    leftover pod of an earlier generation holding that island's name for ``owner``, with another
    command: applying the new pod over it changes an immutable field, which is refused."""
    probe = env.store.allocate(owner="probe", branch="dev", pod_name_fn=lambda i: f"probe-{i}",
                               overrides={}, token_hash="a" * 64, settings=env.settings.islands)
    env.store.release(probe.island_id, probe.generation, "TestProbe")
    leftover = render_pod(IslandSpec(island_id=probe.island_id, owner=owner, branch="dev", token="L" * 24),
                          env.settings.islands, env.settings.kube.namespace, load_template("pod"))
    leftover["metadata"]["labels"][GENERATION_LABEL] = "999"
    leftover["spec"]["containers"][0]["command"].append("--leftover")
    env.kubectl.run("create", "-f", "-", stdin=json.dumps(leftover))
    return probe, leftover


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
            probe, leftover = take_the_next_ids_name(env, victim_owner)
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


class MeetingApply:
    """Wraps kubectl.apply: records each call's pod names; the first ``meet`` calls each wait until
    all of them have started, so they can only finish if they ran at once."""

    def __init__(self, kubectl, meet: int) -> None:
        self.kubectl, self.real = kubectl, kubectl.apply
        self.calls: list[list[str]] = []
        self.meeting = threading.Barrier(meet, timeout=60)

    def __call__(self, docs, timeout=60.0):
        docs = list(docs)
        self.calls.append([d["metadata"]["name"] for d in docs if d.get("kind") == "Pod"])
        if len(self.calls) <= self.meeting.parties:
            self.meeting.wait()  # BrokenBarrierError after 60 s if the parts ran one after another
        return self.real(docs, timeout=timeout)

    def __enter__(self):
        self.kubectl.apply = self
        return self

    def __exit__(self, *exc):
        self.kubectl.apply = self.real


def test_a_batch_goes_out_as_parallel_applies_each_island_in_exactly_one(island_env):
    env = island_env
    settings = env.settings.replace(islands={"apply_parallel": 2, "apply_part_min": 3})
    service = IslandService(settings, env.store, env.kubectl)
    try:
        with MeetingApply(env.kubectl, meet=2) as meeting:
            rows = service.launch_many([LaunchRequest(owner=f"并行{i}", branch="dev" if i % 2 else "weekly")
                                        for i in range(7)])
        # 7 islands, parts of at least 3: two applies (4 + 3), in the order launched, at once
        assert [len(call) for call in meeting.calls] == [4, 3]
        assert sorted(sum(meeting.calls, [])) == sorted(r.pod_name for r in rows)
        assert sum(meeting.calls, []) == [r.pod_name for r in rows]
        for row in rows:
            assert env.kubectl.pod(row.pod_name) is not None
            env.wait_state(row.island_id, ("pending", "creating", "starting", "ready"))
    finally:
        service.close()
        env.cleanup()


def test_a_failed_part_fails_only_the_launches_whose_pods_are_missing(island_env):
    env = island_env
    settings = env.settings.replace(islands={"apply_parallel": 2, "apply_part_min": 2})
    service = IslandService(settings, env.store, env.kubectl)
    leftover = None
    try:
        with HeldApply(env.kubectl) as held:
            lead = launch_in_thread(service, LaunchRequest(owner="lead", branch="weekly"))
            assert held.holding.wait(60)
            probe, leftover = take_the_next_ids_name(env, "受害者")
            victim = launch_in_thread(service, LaunchRequest(owner="受害者", branch="dev"))
            wait_for(lambda: service._applies.queued == 1, 60, "the victim queued")
            others = []
            for i in range(3):
                others.append(launch_in_thread(service, LaunchRequest(owner=f"旁观{i}", branch="dev")))
                wait_for(lambda: service._applies.queued == 2 + i, 60, f"bystander {i} queued")
            held.release.set()
            for thread, _ in [lead, victim] + others:
                thread.join(120)
        # the second batch (victim + 3) went out as two parts of 2: the victim's part failed
        assert [len(call) for call in held.calls] == [1, 2, 2]
        error = victim[1].get("error")
        assert isinstance(error, KubectlError) and "Forbidden" in error.message, victim[1]
        row = env.store.get(probe.island_id)
        assert (row.state, row.reason) == ("deleted", "ApplyFailed")
        # the victim's part-mate's pod exists (kubectl applied it before or after): its launch stands
        for _, box in others + [lead]:
            assert "row" in box, box
            assert env.store.get(box["row"].island_id).state not in ("allocated", "deleted")
    finally:
        service.close()
        if leftover is not None:
            env.kubectl.delete_pod(leftover["metadata"]["name"], grace_period=0, force=True, wait=True)
        env.cleanup()
