"""The tracker's periodic re-list (and, while lines keep coming, its timeout check) runs beside the watch (island_ssh/kube/tracker_relist.py): a slow
listing holds no watch line back, still finds what the watch missed, and does not take a pod
created after the listing was taken for a lost one. Real MariaDB, the cluster side from
island_ssh.testing.fakes; the tracker follows its watch on a thread, and the test waits on
conditions."""

from __future__ import annotations

import threading

from island_ssh.core.settings import TrackerSettings
from island_ssh.kube.tracker import Tracker
from island_ssh.kube.tracker_timing import TrackerTiming
from island_ssh.testing.fakes import FakeKubectl, ManualClock
from island_ssh.testing.waiting import wait_for

from .test_tracker_loop import ISLANDS, applied_island, pod_of

RELIST_EVERY_TURN = TrackerSettings(restart_backoff=0.0, restart_backoff_max=0.0, relist_interval=0.0,
                                    stale_after=3600.0)


class SlowListing(FakeKubectl):
    """Lists at once the first time (the watch's opening re-list); later listings are taken when
    asked (a snapshot) and handed back only once the test opens ``gate``."""

    def __init__(self) -> None:
        super().__init__()
        self.may_list = threading.Event()
        self.gate = threading.Event()
        self.taken = threading.Event()
        self.snapshot: dict | None = None
        self.hide: set[str] = set()  # pods the next snapshot leaves out (gone without a watch event)

    def pods(self, selector=None, timeout: float = 60.0) -> dict:
        if self.verbs.count("pods") == 0:
            return super().pods(selector, timeout) if selector else super().pods(timeout=timeout)
        assert self.may_list.wait(30), "the test never let the listing be taken"
        listing = super().pods(selector, timeout) if selector else super().pods(timeout=timeout)
        listing["items"] = [p for p in listing["items"] if p["metadata"]["name"] not in self.hide]
        self.snapshot = listing
        self.taken.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return listing


def test_a_slow_relisting_holds_no_watch_line_back_and_judges_only_what_it_saw(fresh_store):
    seen, later, vanished = (applied_island(fresh_store, f"owner{i}") for i in range(3))
    kubectl = SlowListing()
    kubectl.set_pod(pod_of(seen, "pending"))
    kubectl.set_pod(pod_of(vanished, "ready"))
    following = Tracker(kubectl, fresh_store, ISLANDS, RELIST_EVERY_TURN)
    following.timing = TrackerTiming()
    thread = threading.Thread(target=following.run_watch, daemon=True)
    thread.start()
    try:
        wait_for(lambda: fresh_store.get(vanished.island_id).state == "ready", 30, "the opening ADDED lines stored")
        kubectl.hide.add(vanished.pod_name)  # gone from the cluster, and the watch never said so
        kubectl.may_list.set()
        wait_for(kubectl.taken.is_set, 30, "a background listing taken")
        # while the listing is still on its way: the watch goes on, and a pod appears after the snapshot
        kubectl.set_pod(pod_of(seen, "ready"))
        kubectl.set_pod(pod_of(later, "pending"), "ADDED")
        wait_for(lambda: fresh_store.get(seen.island_id).state == "ready", 30, "a watch line stored meanwhile")
        wait_for(lambda: fresh_store.get(later.island_id).state == "pending", 30, "the new pod stored")
        assert not [p for p in following.timing.pauses if p.kind == "relist"]  # the gate is still shut
        assert later.pod_name not in {p["metadata"]["name"] for p in kubectl.snapshot["items"]}
        kubectl.gate.set()
        wait_for(lambda: any(p.kind == "relist" for p in following.timing.pauses), 30, "the listing applied")
        gone = fresh_store.get(vanished.island_id)
        assert (gone.state, gone.reason) == ("lost", "PodMissing")  # the listing still finds what the watch missed
        assert fresh_store.get(later.island_id).state == "pending"  # newer than the listing: not lost
        assert fresh_store.get(seen.island_id).state == "ready"
    finally:
        following.stop()
        kubectl.may_list.set()
        kubectl.gate.set()
        thread.join(30)
    assert not thread.is_alive()


def test_a_busy_watch_checks_timeouts_beside_it_and_a_row_that_moved_meanwhile_refuses(fresh_store):
    late, moved = applied_island(fresh_store, "late"), applied_island(fresh_store, "moved")
    wall = ManualClock(max(late.created_at, moved.created_at).timestamp() + ISLANDS.ready_timeout + 5)
    following = Tracker(FakeKubectl(), fresh_store, ISLANDS, RELIST_EVERY_TURN, wall_clock=wall)
    check = following.check_timeouts(busy=True)
    assert check is not None
    wait_for(check.done.is_set, 30, "the timeout check judged")
    assert fresh_store.get(late.island_id).state == "applying"  # judged beside the watch, not stored yet
    assert fresh_store.transition(moved.island_id, moved.generation, "pending", "Scheduled", "")  # the watch, meanwhile
    following._store_many(check.result())
    timed_out = fresh_store.get(late.island_id)
    assert timed_out.state == "timeout" and "(limit 180 s)" in timed_out.message
    assert fresh_store.get(moved.island_id).state == "pending"  # judged as applying: the store refused
    assert following.check_timeouts(busy=True) is None  # not again within 5 s of a busy watch
