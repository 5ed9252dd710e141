"""classify() against the plain implementation it replaced (kept here as the oracle).

classify is written for speed (one read per field, no helper objects, PodView built in one
step); ``reference_classify`` below is the straightforward version it replaced, field by field
through small helpers. Both must give the same PodView for every input: the fixtures, the real
kubectl lines, and random trees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from island_ssh.core.podstate import ID_LABEL, WAITING_ERRORS, PodParseError, PodView, classify

from .helpers import pod, pod_names
from .test_fuzz import pod_like, replace_one_subtree

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SERVER = "altraserver"
KUBECTL = Path(__file__).resolve().parent / "kubectl_watch.jsonl"


# -- the reference: the implementation before the fast one, unchanged in what it computes ---------
def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list:
    return value if isinstance(value, list) else []


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def _is_waiting_error(reason: str) -> bool:
    return reason in WAITING_ERRORS or reason.endswith(("Error", "BackOff")) or reason.startswith("Err")


def _terminated_message(terminated: dict) -> str:
    code = terminated.get("exitCode")
    parts = []
    if isinstance(code, int) and not isinstance(code, bool):
        parts.append(f"exit code {code}")
    signal = terminated.get("signal")
    if isinstance(signal, int) and not isinstance(signal, bool) and signal:
        parts.append(f"signal {signal}")
    text = _s(terminated.get("message")).strip()
    head = ", ".join(parts)
    if head and text:
        return f"{head}: {text}"
    return head or text


def _first(entries: list, key: str, value: str) -> dict | None:
    for entry in entries:
        if isinstance(entry, dict) and entry.get(key) == value:
            return entry
    return None


def reference_classify(pod: dict, server_container: str, *, deleted: bool = False) -> PodView:
    if not isinstance(pod, dict):
        raise PodParseError(f"pod: expected a JSON object (dict), got {type(pod).__name__}")
    meta = _d(pod.get("metadata"))
    spec = _d(pod.get("spec"))
    status = _d(pod.get("status"))
    node = _s(spec.get("nodeName")) or None
    labels = _d(meta.get("labels"))
    common = dict(
        node=node,
        host_ip=_s(status.get("hostIP")) or None,
        resource_version=_int_or_none(meta.get("resourceVersion")),
        name=_s(meta.get("name")),
        island_id=_int_or_none(labels.get(ID_LABEL)),
        deleted=deleted,
        uid=_s(meta.get("uid")),
    )
    server = _first(_l(status.get("containerStatuses")), "name", server_container) or {}
    ready = server.get("ready") is True
    state = _d(server.get("state"))
    running, waiting, terminated = (
        _d(state.get(k)) if k in state else None for k in ("running", "waiting", "terminated"))
    common["started_at"] = _s((running or terminated or {}).get("startedAt"))

    def view(kind: str, reason: str = "", message: str = "", is_ready: bool = False) -> PodView:
        return PodView(kind, reason, message, ready=is_ready, **common)

    if meta.get("deletionTimestamp"):
        grace = meta.get("deletionGracePeriodSeconds")
        when = _s(meta.get("deletionTimestamp"))
        text = f"deletion requested; containers stop by {when}" if when else "deletion requested"
        if isinstance(grace, int) and not isinstance(grace, bool):
            text += f" (grace {grace} s)"
        return view("terminating", "Terminating", text, ready)
    phase = _s(status.get("phase"))
    if phase in ("Failed", "Succeeded") or terminated is not None:
        pod_reason = _s(status.get("reason"))
        pod_message = _s(status.get("message")).strip()
        if terminated is not None:
            exit_code = terminated.get("exitCode")
            default = "Completed" if exit_code == 0 and not isinstance(exit_code, bool) else "Error"
            reason = pod_reason or _s(terminated.get("reason")) or default
            detail = _terminated_message(terminated)
            message = f"{pod_message} ({detail})" if pod_message and detail else pod_message or detail
        else:
            reason = pod_reason or phase
            message = pod_message or f"pod phase {phase}"
        return view("failed", reason, message)
    if waiting is not None:
        reason = _s(waiting.get("reason"))
        if _is_waiting_error(reason):
            return view("failed", reason, _s(waiting.get("message")))
    for init in _l(status.get("initContainerStatuses")):
        init_waiting = _d(_d(_d(init).get("state")).get("waiting"))
        init_reason = _s(init_waiting.get("reason"))
        if init_reason and _is_waiting_error(init_reason):
            return view("failed", init_reason, _s(init_waiting.get("message")))
    if running is not None:
        if ready:
            return view("ready", "", "", True)
        return view("starting", "NotReady", "server container running, readiness probe not yet passed")
    scheduled = _d(_first(_l(status.get("conditions")), "type", "PodScheduled"))
    if node or scheduled.get("status") == "True":
        reason = _s((waiting or {}).get("reason")) or "ContainerCreating"
        return view("creating", reason, _s((waiting or {}).get("message")))
    if scheduled.get("status") == "False":
        reason = _s(scheduled.get("reason"))
        kind = "unschedulable" if reason == "Unschedulable" else "pending"
        return view(kind, reason, _s(scheduled.get("message")))
    return view("pending", _s(status.get("reason")), _s(status.get("message")))


# -- the comparison ----------------------------------------------------------------------------------
def same(obj, server: str = SERVER, deleted: bool = False) -> PodView:
    fast = classify(obj, server, deleted=deleted)
    assert fast == reference_classify(obj, server, deleted=deleted)
    assert repr(fast) == repr(reference_classify(obj, server, deleted=deleted))
    assert type(fast) is PodView and vars(fast) == vars(reference_classify(obj, server, deleted=deleted))
    return fast


@pytest.mark.parametrize("name", pod_names())
@pytest.mark.parametrize("deleted", [False, True])
def test_fixtures(name, deleted):
    same(pod(name), deleted=deleted)
    same(pod(name), "side-container", deleted=deleted)
    same(pod(name), "no-such-container", deleted=deleted)


def test_real_kubectl_pods():
    states = [same(json.loads(line)["object"]).state for line in KUBECTL.read_text(encoding="utf-8").splitlines()]
    assert {"pending", "creating", "ready", "terminating"} <= set(states)


def test_views_are_ordinary_frozen_pod_views():
    view = classify(pod("ready"), SERVER)
    assert hash(view) == hash(reference_classify(pod("ready"), SERVER))
    with pytest.raises(AttributeError):
        view.state = "failed"


@FAST
@given(pod_like)
def test_random_trees(obj):
    if not isinstance(obj, dict):
        with pytest.raises(PodParseError):
            classify(obj, SERVER)
        return
    same(obj)


@FAST
@given(data=st.data(), name=st.sampled_from(pod_names()), replacement=pod_like)
def test_fixtures_with_one_subtree_replaced(data, name, replacement):
    raw = pod(name)
    replace_one_subtree(data, raw, replacement)
    same(raw)


@FAST
@given(
    state=st.dictionaries(st.sampled_from(["running", "waiting", "terminated", "x"]),
                          pod_like | st.fixed_dictionaries({}, optional={
                              "startedAt": st.text(max_size=5) | st.none(), "reason": st.sampled_from(
                                  ["", "ErrImagePull", "CrashLoopBackOff", "ContainerCreating", "OOMKilled", "XError"]),
                              "exitCode": st.integers(-2, 2) | st.booleans() | st.none(),
                              "signal": st.integers(0, 9) | st.booleans(), "message": st.text(max_size=5)}),
                          max_size=3),
    ready=st.booleans() | st.none() | st.sampled_from(["true", 1]),
    phase=st.sampled_from(["Pending", "Running", "Failed", "Succeeded", "", None, 3]),
    node=st.sampled_from(["node-1", "", None, 7]),
    scheduled=st.sampled_from(["True", "False", None, "x"]),
    sched_reason=st.sampled_from(["Unschedulable", "SchedulingGated", None, 5]),
    meta=st.fixed_dictionaries({}, optional={
        "deletionTimestamp": st.sampled_from(["2025-11-27T09:10:05Z", "", None, 5, True]),
        "deletionGracePeriodSeconds": st.sampled_from([30, 0, True, "30", None]),
        "resourceVersion": st.sampled_from(["12", "", "x1", "٣", 12, True, 1.5, "9" * 21]),
        "labels": st.fixed_dictionaries({}, optional={ID_LABEL: st.sampled_from(["269", "0", "-1", "abc", 269, None])}),
        "name": st.sampled_from(["p", None, 3]), "uid": st.sampled_from(["u", None, ["u"]])}),
)
def test_pod_shaped_random(state, ready, phase, node, scheduled, sched_reason, meta):
    obj = {
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {
            "phase": phase, "hostIP": node,
            "conditions": [{"type": "PodScheduled", "status": scheduled, "reason": sched_reason, "message": "m"}],
            "containerStatuses": [{"name": "side-container", "ready": True, "state": {"running": {}}},
                                  {"name": SERVER, "ready": ready, "state": state}],
            "initContainerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}] if node == 7 else [],
        },
    }
    same(obj)
