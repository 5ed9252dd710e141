"""parse_watch_line(line, slim=True): the pod of a pod event is slim_pod(pod), fast path or not.

The fast path (watch._slim_event) cuts a kubectl line into pieces instead of parsing all of
it; whatever it does, the event must equal the full parse slimmed down, and classify() must
see the same pod. kubectl_watch.jsonl holds real lines: kubectl 1.32 ``get pods -w
--output-watch-events -o json`` against the sandbox while two pods were applied client-side
(so with the last-applied annotation), scheduled, started and deleted.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from island_ssh.core.podstate import classify
from island_ssh.core.watch_events import (
    POD_EVENT_TYPES, WatchEvent, WatchParseError, _slim_event, parse_watch_line, slim_pod,
)

from .helpers import pod, pod_names, watch_line
from .test_fuzz import json_values, pod_like

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SERVER = "altraserver"
KUBECTL_LINES = (Path(__file__).resolve().parent / "kubectl_watch.jsonl").read_text(encoding="utf-8").splitlines()


def kubectl_line(kind: str, obj: dict) -> str:
    """As kubectl prints it: envelope type then object, the object's keys sorted, compact."""
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return f'{{"type":{json.dumps(kind)},"object":{body}}}'


def expected(line) -> WatchEvent:
    full = parse_watch_line(line)
    return WatchEvent(full.type, slim_pod(full.object)) if full.type in POD_EVENT_TYPES else full


def check(line, fast: bool | None = None) -> WatchEvent:
    """The slim event equals the slimmed full parse, for str and bytes; ``fast``: which path."""
    for variant in (line, line.encode("utf-8")) if isinstance(line, str) else (line,):
        event = parse_watch_line(variant, slim=True)
        assert event == expected(variant)
        full = parse_watch_line(variant)
        if full.type in POD_EVENT_TYPES:
            assert classify(event.object, SERVER) == classify(full.object, SERVER)
        if fast is not None:
            assert (_slim_event(variant) is not None) is fast, variant[:200]
    return event


# -- the lines that matter ------------------------------------------------------------------------
@pytest.mark.parametrize("index", range(len(KUBECTL_LINES)))
def test_real_kubectl_lines_take_the_fast_path(index):
    check(KUBECTL_LINES[index], fast=True)


def test_real_kubectl_lines_cover_the_states():
    states = [classify(parse_watch_line(line, slim=True).object, SERVER).state for line in KUBECTL_LINES]
    assert {"pending", "creating", "ready", "terminating"} <= set(states)


@pytest.mark.parametrize("name", pod_names())
@pytest.mark.parametrize("kind", sorted(POD_EVENT_TYPES))
def test_fixture_pods_take_the_fast_path(name, kind):
    check(watch_line(kind, pod(name)), fast=True)  # fixture key order: labels before annotations
    check(kubectl_line(kind, pod(name)), fast=True)  # kubectl's: annotations first


def test_the_slim_pod():
    raw = pod("ready")
    raw["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    before = copy.deepcopy(raw)
    slim = slim_pod(raw)
    assert raw == before
    assert slim["spec"] == {"nodeName": "node-dev-1"} and slim["status"] == raw["status"]
    assert "annotations" not in slim["metadata"] and "managedFields" not in slim["metadata"]
    assert slim["metadata"]["labels"] == raw["metadata"]["labels"]
    assert slim["metadata"]["name"] == raw["metadata"]["name"] and slim["metadata"]["uid"] == raw["metadata"]["uid"]
    assert parse_watch_line(kubectl_line("MODIFIED", raw), slim=True).object == slim
    assert slim_pod({"metadata": 3, "spec": [], "extra": 1}) == {"metadata": 3, "spec": []}


@pytest.mark.parametrize("line", [
    '{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"2050","annotations":{"a":"b"}}}}',
    '{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}}',
    '{"type":"ERROR","object":{"kind":"Status","spec":{"nodeName":"n"},"status":{"phase":"x"}}}',
])
def test_other_events_keep_their_objects(line):
    assert parse_watch_line(line, slim=True) == parse_watch_line(line)


@pytest.mark.parametrize("line", [
    "", "   \n", "NAME   READY   STATUS", '{"type":"ADDED","object":{"kind":"Pod"', "[1, 2]",
    '{"type":"SOMETHING","object":{"spec":{},"status":{}}}', '{"object":{"spec":{},"status":{}}}',
    '{"type":"ADDED","object":null}', '{"type":["ADDED"],"object":{"metadata":{},"spec":{},"status":{}}}',
    '{"type":"ADDED","object":{"metadata":{},"spec":{},"status":{}}} trailing',
    b"\xff\xfe{}", None,
])
def test_bad_lines_raise_as_without_slim(line):
    with pytest.raises(WatchParseError) as plain:
        parse_watch_line(line)
    with pytest.raises(WatchParseError) as slim:
        parse_watch_line(line, slim=True)
    assert str(slim.value) == str(plain.value)


# -- shapes around the cuts -------------------------------------------------------------------------
def edited(edit, name: str = "ready") -> dict:
    raw = pod(name)
    edit(raw)
    return raw


TRAPS = ['},"', '"},"creationTimestamp":"', '},', '\\', '{"a":{"b":"c"},"d":1}', ',"spec":{', ',"status":{',
         '"nodeName":"evil"', "}}", "刘电波", "\u2028", "x\"},\"y"]


@pytest.mark.parametrize("trap", TRAPS)
def test_annotation_text_that_looks_like_json(trap):
    raw = edited(lambda p: p["metadata"]["annotations"].update({"trap": trap, "z-last": trap, "a-first": trap}))
    check(watch_line("MODIFIED", raw))
    check(kubectl_line("MODIFIED", raw))


@pytest.mark.parametrize("annotations", [{}, {"a": "b"}, {"a": {"b": "c"}, "d": "e"}, {"a": [{"b": "c"}]},
                                          {"a": {"b": {"c": "d"}}}, {"a": 1}, {"a": None, "b": {}}])
def test_annotations_of_any_shape(annotations):
    # The API server keeps annotations a map of strings; the cut is right (or not made) anyway.
    raw = edited(lambda p: p["metadata"].update(annotations=annotations))
    check(watch_line("MODIFIED", raw))
    check(kubectl_line("MODIFIED", raw))


def _reorder(keys):
    def edit(p):
        meta = p["metadata"]
        p["metadata"] = {k: meta[k] for k in keys if k in meta} | {k: v for k, v in meta.items() if k not in keys}
    return edit


@pytest.mark.parametrize("edit, fast", [
    (_reorder(["name", "labels", "uid", "resourceVersion", "annotations"]), True),  # a key follows them
    (_reorder(["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations"]),
     False),  # Go's struct order: annotations last, the full parser takes it
    (_reorder(["annotations"]), True),
    (_reorder(["labels", "annotations", "_x", "name"]), True),
    (lambda p: p["metadata"].update({"_x": {"a": "b"}}) or _reorder(["labels", "annotations", "_x", "name"])(p), True),
    (lambda p: p["metadata"].update({"1": "2"}) or _reorder(["labels", "annotations", "1", "name"])(p), True),
    (lambda p: p["metadata"].update({"": "2"}) or _reorder(["labels", "annotations", "", "name"])(p), True),
])
def test_metadata_key_orders(edit, fast):
    check(watch_line("MODIFIED", edited(edit)), fast=fast)


@pytest.mark.parametrize("edit, fast", [
    (lambda p: p["metadata"].pop("annotations"), True),
    (lambda p: p["metadata"].update(
        managedFields=[{"manager": "m", "fieldsV1": {"f:metadata": {"f:annotations": {}}}}]), True),
    (lambda p: p["spec"].pop("nodeName"), True),
    (lambda p: p["spec"].update(nodeName=None), False),
    (lambda p: p["spec"].update(nodeName=""), True),
    (lambda p: p["spec"].update(nodeName=7), False),
    (lambda p: p["spec"].update(nodeName="nöde"), False),
    (lambda p: p["spec"].update(nodeName='a"b'), False),
    (lambda p: p["spec"]["containers"][0]["env"].append(
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}), True),
    (lambda p: p["spec"].update(x={"a": 1, "status": {"phase": "Failed"}}), True),
    (lambda p: p["status"]["containerStatuses"][0].update(status={"phase": "Failed"}), False),
    (lambda p: p["spec"]["volumes"].append({"name": "v", "ephemeral": {"volumeClaimTemplate": {
        "metadata": {"annotations": {"a": "b"}}, "spec": {"accessModes": ["ReadWriteOnce"]}}}}), True),
    (lambda p: p.update(status="Running"), False),
    (lambda p: p.pop("status"), False),
    (lambda p: p.pop("spec"), False),
    (lambda p: p.update(metadata=None), True),
    (lambda p: p.pop("metadata"), False),
    (lambda p: p.update(extra={"b": 1}), True),
])
def test_shapes(edit, fast):
    raw = edited(edit)
    check(kubectl_line("MODIFIED", raw), fast=fast)
    check(watch_line("MODIFIED", raw))
    check(json.dumps({"type": "MODIFIED", "object": raw}))  # with spaces: the full parser


def test_key_orders_kubectl_never_prints_still_give_the_same_pod():
    raw = pod("ready")
    for order in (["status", "spec", "metadata"], ["spec", "metadata", "status"], ["metadata", "status", "spec"]):
        obj = {k: raw[k] for k in order}
        check(f'{{"type":"ADDED","object":{json.dumps(obj, separators=(",", ":"))}}}')
        check(f'{{"object":{json.dumps(obj, separators=(",", ":"))},"type":"ADDED"}}')


@pytest.mark.parametrize("ending", ["\n", "\r\n", "  ", "\t\r\n"])
def test_line_endings(ending):
    check(KUBECTL_LINES[5] + ending, fast=True)


@pytest.mark.parametrize("ending", ["\u2028", "\x85", "\x0b"])
def test_unicode_line_endings(ending):
    check(KUBECTL_LINES[5] + ending)  # str.rstrip takes them, bytes.rstrip not all: either path


# -- properties --------------------------------------------------------------------------------------
no_node_key = st.text(max_size=12).filter(lambda key: key != "nodeName")
spec_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(no_node_key, inner, max_size=5),
    max_leaves=25,
)
string_map = st.dictionaries(st.text(max_size=15), st.text(max_size=40), max_size=5)
kubernetes_pods = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"name": st.text(max_size=20), "labels": string_map},
            optional={"annotations": string_map | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
                      "uid": st.text(max_size=10), "resourceVersion": st.text("0123456789", max_size=5),
                      "deletionTimestamp": st.text(max_size=20), "creationTimestamp": st.text(max_size=20),
                      "_other": json_values, "zz": json_values},
        ),
        "spec": st.dictionaries(no_node_key, spec_values, max_size=4)
        | st.builds(lambda d, n: {**d, "nodeName": n}, st.dictionaries(no_node_key, spec_values, max_size=4),
                    st.text(max_size=12) | st.none()),
        "status": st.dictionaries(st.text(max_size=12), pod_like, max_size=5)
        | pod_like.filter(lambda s: isinstance(s, dict)),
    },
    optional={"apiVersion": st.just("v1"), "kind": st.just("Pod")},
)


@FAST
@given(kind=st.sampled_from(sorted(POD_EVENT_TYPES)), obj=kubernetes_pods, ascii_only=st.booleans())
def test_kubectl_shaped_pods_give_the_same_slim_pod(kind, obj, ascii_only):
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_only, sort_keys=True)
    check(f'{{"type":"{kind}","object":{body}}}')


@FAST
@given(kind=st.sampled_from(sorted(POD_EVENT_TYPES)), obj=kubernetes_pods, data=st.data())
def test_pods_in_any_key_order(kind, obj, data):
    order = data.draw(st.permutations(list(obj)))
    line = f'{{"type":"{kind}","object":{json.dumps({k: obj[k] for k in order}, separators=(",", ":"))}}}'
    between = order[order.index("spec") + 1 : order.index("status")]
    for variant in (line, line.encode()):
        event = parse_watch_line(variant, slim=True)
        full = parse_watch_line(variant)
        assert classify(event.object, SERVER) == classify(full.object, SERVER)
        if not between:
            assert event == WatchEvent(full.type, slim_pod(full.object))
        else:  # not kubectl's order: the keys between spec and status may be missing, nothing else
            assert event.object == {k: v for k, v in slim_pod(full.object).items() if k not in between} \
                or event.object == slim_pod(full.object)


@FAST
@given(kind=st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR", "x"]), obj=json_values)
def test_any_json_only_declared_errors(kind, obj):
    line = json.dumps({"type": kind, "object": obj}, separators=(",", ":"))
    try:
        event = parse_watch_line(line, slim=True)
    except WatchParseError:
        with pytest.raises(WatchParseError):
            parse_watch_line(line)
        return
    assert isinstance(event.object, dict)
    classify(event.object, SERVER)


@FAST
@given(line=st.sampled_from(KUBECTL_LINES), cut=st.integers(0, 5000))
def test_truncated_kubectl_lines_fail_as_without_slim(line, cut):
    try:
        full = parse_watch_line(line[:cut])
    except WatchParseError:
        with pytest.raises(WatchParseError):
            parse_watch_line(line[:cut], slim=True)
        return
    assert parse_watch_line(line[:cut], slim=True) == WatchEvent(full.type, slim_pod(full.object))


def test_the_fast_path_does_not_check_the_bytes_it_skips():
    # kubectl's output is well-formed; the fast path relies on that instead of reading the spec.
    line = b'{"type":"ADDED","object":{"metadata":{"name":"p"},"spec":{"x":"\xff"},"status":{}}}'
    with pytest.raises(WatchParseError):
        parse_watch_line(line)
    assert parse_watch_line(line, slim=True).object == {"metadata": {"name": "p"}, "spec": {}, "status": {}}
