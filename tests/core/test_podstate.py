"""classify() on pod JSON shaped as kubectl 1.35 prints it (tests/core/pods/*.json)."""

import copy

import pytest

from island_ssh.core.podstate import PodParseError, PodView, classify

from .helpers import pod, pod_names

SERVER = "altraserver"

EXPECTED = {
    # fixture: (state, reason, message contains, ready)
    "pending": ("pending", "", "", False),
    "unschedulable": ("unschedulable", "Unschedulable", "0/3 nodes are available: 1 node(s) didn't match", False),
    "container_creating": ("creating", "ContainerCreating", "", False),
    "starting_side_ready": ("starting", "NotReady", "readiness", False),
    "ready": ("ready", "", "", True),
    "server_exit3": ("failed", "Error", "exit code 3", False),
    "oomkilled": ("failed", "OOMKilled", "exit code 137", False),
    "completed": ("failed", "Completed", "exit code 0", False),
    "evicted": ("failed", "Evicted", "The node was low on resource: memory", False),
    "err_image_pull": ("failed", "ErrImagePull", "not found", False),
    "image_pull_backoff": ("failed", "ImagePullBackOff", "Back-off pulling image", False),
    "terminating": ("terminating", "Terminating", "2025-11-27T09:10:05Z", True),
}


def test_every_fixture_has_an_expectation():
    assert sorted(EXPECTED) == pod_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_classify_fixture(name):
    state, reason, message, ready = EXPECTED[name]
    view = classify(pod(name), SERVER)
    assert (view.state, view.reason, view.ready) == (state, reason, ready)
    assert message in view.message
    if not message:
        assert view.message == "" or view.state == "starting"
    assert view.name == "altraserver-liudianbo-dev-269"
    assert view.island_id == 269
    assert isinstance(view.resource_version, int)
    assert view.deleted is False
    assert view.uid == "5b0c6a57-9c3e-4f0e-8d27-0e8a3b6f2d11"


def test_crashed_server_with_live_side_container_is_failed_although_phase_running():
    raw = pod("server_exit3")
    assert raw["status"]["phase"] == "Running"
    side = [c for c in raw["status"]["containerStatuses"] if c["name"] == "side-container"][0]
    assert side["ready"] is True  # kubectl would show READY 1/2, STATUS Running
    assert classify(raw, SERVER).state == "failed"


def test_unschedulable_carries_the_scheduler_text_exactly():
    raw = pod("unschedulable")
    text = raw["status"]["conditions"][0]["message"]
    view = classify(raw, SERVER)
    assert view.message == text
    assert view.node is None and view.host_ip is None


def test_bound_pod_reports_node_and_host_ip():
    view = classify(pod("ready"), SERVER)
    assert (view.node, view.host_ip) == ("node-dev-1", "10.18.8.41")


def test_deletion_timestamp_wins_over_failed():
    raw = pod("oomkilled")
    raw["metadata"]["deletionTimestamp"] = "2025-11-27T09:10:05Z"
    assert classify(raw, SERVER).state == "terminating"


def test_deleted_flag_is_passed_through():
    assert classify(pod("ready"), SERVER, deleted=True).deleted is True


def test_evicted_message_keeps_kubernetes_text_and_exit_code():
    view = classify(pod("evicted"), SERVER)
    assert view.message.startswith("The node was low on resource: memory.")
    assert view.message.endswith("(exit code 137)")


def test_bound_but_no_container_statuses_yet_is_creating():
    raw = pod("container_creating")
    del raw["status"]["containerStatuses"]
    assert classify(raw, SERVER).state == "creating"


def test_node_name_alone_means_bound():
    raw = pod("pending")
    raw["spec"]["nodeName"] = "node-weekly-1"
    view = classify(raw, SERVER)
    assert (view.state, view.node) == ("creating", "node-weekly-1")


def test_pod_scheduled_false_for_another_reason_is_pending_with_reason():
    raw = pod("unschedulable")
    raw["status"]["conditions"][0]["reason"] = "SchedulingGated"
    view = classify(raw, SERVER)
    assert (view.state, view.reason) == ("pending", "SchedulingGated")


@pytest.mark.parametrize(
    "reason",
    ["CreateContainerConfigError", "CrashLoopBackOff", "InvalidImageName", "RunContainerError", "SomeFutureError"],
)
def test_waiting_errors_are_failed(reason):
    raw = pod("err_image_pull")
    raw["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": reason, "message": "why"}}
    view = classify(raw, SERVER)
    assert (view.state, view.reason, view.message) == ("failed", reason, "why")


def test_unknown_waiting_reason_is_still_creating():
    raw = pod("container_creating")
    raw["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "PodInitializing"}}
    assert classify(raw, SERVER).state == "creating"


def test_terminated_signal_and_message_in_message():
    raw = pod("server_exit3")
    raw["status"]["containerStatuses"][0]["state"]["terminated"].update(signal=9, message="killed by test")
    assert classify(raw, SERVER).message == "exit code 3, signal 9: killed by test"


def test_phase_succeeded_without_statuses_is_failed():
    view = classify({"status": {"phase": "Succeeded"}}, SERVER)
    assert (view.state, view.reason) == ("failed", "Succeeded")


def test_unknown_container_name_falls_back_to_pod_level():
    assert classify(pod("ready"), "no-such-container").state == "creating"
    assert classify(pod("unschedulable"), "no-such-container").state == "unschedulable"


@pytest.mark.parametrize(
    "odd",
    [
        {},
        {"metadata": None, "spec": None, "status": None},
        {"status": {"containerStatuses": None, "conditions": None}},
        {"status": {"containerStatuses": [None, 3, "x", {"name": SERVER}]}},
        {"status": {"containerStatuses": [{"name": SERVER, "state": None, "ready": "yes"}]}},
        {"status": {"containerStatuses": [{"name": SERVER, "state": {"terminated": None}}]}},
        {"status": {"conditions": [None, {"type": "PodScheduled", "status": "False", "reason": None}]}},
        {"metadata": {"labels": {"island-ssh/id": "abc"}, "resourceVersion": "x1"}},
        {"metadata": {"labels": {"island-ssh/id": "٣"}, "resourceVersion": 12}},
        {"metadata": {"deletionTimestamp": 5, "deletionGracePeriodSeconds": "x"}},
        {"spec": {"nodeName": 7}, "status": {"hostIP": ["x"], "phase": 3}},
    ],
)
def test_odd_shapes_never_raise(odd):
    view = classify(odd, SERVER)
    assert isinstance(view, PodView)
    assert isinstance(view.reason, str) and isinstance(view.message, str)
    assert view.island_id is None or isinstance(view.island_id, int)


@pytest.mark.parametrize("bad", [None, [], "pod", 3, b"{}"])
def test_non_dict_raises_declared_error(bad):
    with pytest.raises(PodParseError):
        classify(bad, SERVER)


def test_classify_does_not_mutate_its_input():
    raw = pod("evicted")
    before = copy.deepcopy(raw)
    classify(raw, SERVER)
    assert raw == before


def test_started_at_of_the_server_container():
    assert classify(pod("ready"), SERVER).started_at == "2025-11-27T08:00:02Z"
    assert classify(pod("server_exit3"), SERVER).started_at == "2025-11-27T08:00:02Z"
    assert classify(pod("container_creating"), SERVER).started_at == ""
