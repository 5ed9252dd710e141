"""Fuzz the parsers: only the declared errors may come out, whatever kubectl (or an attacker) prints."""

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from island_ssh.core.podstate import POD_STATES, PodParseError, PodView, classify
from island_ssh.core.watch_events import WatchParseError, parse_pod_list, parse_watch_line

from .helpers import pod, pod_names, watch_line

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Kubernetes (Go) never writes integers beyond 64 bits; orjson reads those as floats, so the
# equality checks below keep to int64. test_huge_integers_do_not_raise covers the rest.
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
pod_keys = st.sampled_from(
    ["metadata", "spec", "status", "phase", "reason", "message", "conditions", "containerStatuses", "state",
     "waiting", "running", "terminated", "ready", "name", "type", "nodeName", "hostIP", "deletionTimestamp",
     "labels", "resourceVersion", "exitCode", "signal", "island-ssh/id", "altraserver", "PodScheduled"]
)
pod_like = st.recursive(
    json_scalars | st.sampled_from(["altraserver", "False", "True", "Unschedulable", "Failed", "ErrImagePull"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(pod_keys, inner, max_size=6),
    max_leaves=40,
)


@FAST
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_watch_line_random_text(line):
    try:
        event = parse_watch_line(line)
    except WatchParseError:
        return
    assert isinstance(event.object, dict)


@FAST
@given(kind=st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR", "x", ""]) | json_values, obj=json_values)
def test_watch_line_random_json(kind, obj):
    line = json.dumps({"type": kind, "object": obj})
    try:
        event = parse_watch_line(line)
    except WatchParseError:
        return
    assert event.type in {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"} and event.object == obj
    assert isinstance(event.is_gone, bool) and isinstance(event.error_message, str)


@FAST
@given(kind=st.sampled_from(["List", "PodList", "Pod"]) | json_values, items=json_values)
def test_pod_list_random_json(kind, items):
    try:
        pods = parse_pod_list(json.dumps({"kind": kind, "items": items}))
    except WatchParseError:
        return
    assert all(isinstance(p, dict) for p in pods)


@FAST
@given(st.integers(-(2**200), 2**200))
def test_huge_integers_do_not_raise(number):
    event = parse_watch_line(json.dumps({"type": "ADDED", "object": {"metadata": {"resourceVersion": number}}}))
    assert classify(event.object, "altraserver").resource_version in (None, number)


@FAST
@given(line=st.sampled_from(pod_names()).map(lambda n: watch_line("MODIFIED", pod(n))), cut=st.integers(0, 20000))
def test_watch_line_truncated_real_lines(line, cut):
    try:
        parse_watch_line(line[:cut])
    except WatchParseError:
        assert cut < len(line)


def check_view(view):
    assert isinstance(view, PodView)
    assert view.state in POD_STATES
    assert isinstance(view.reason, str) and isinstance(view.message, str) and isinstance(view.ready, bool)
    assert view.node is None or isinstance(view.node, str)
    assert view.resource_version is None or isinstance(view.resource_version, int)


@FAST
@given(pod_like)
def test_classify_random_trees(obj):
    try:
        check_view(classify(obj, "altraserver"))
    except PodParseError:
        assert not isinstance(obj, dict)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def replace_one_subtree(data, raw, replacement) -> None:
    """Put ``replacement`` in place of one subtree of ``raw`` (a path hypothesis draws)."""
    path = data.draw(st.sampled_from(list(_paths(raw))[1:]))
    node = raw
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = replacement


@FAST
@given(data=st.data(), name=st.sampled_from(pod_names()), replacement=pod_like)
def test_classify_real_pods_with_one_subtree_replaced(data, name, replacement):
    raw = pod(name)
    replace_one_subtree(data, raw, replacement)
    check_view(classify(raw, "altraserver"))
