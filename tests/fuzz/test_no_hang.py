"""Bad input to the pure core: only the declared errors come out, and nothing hangs.

tests/core/test_fuzz.py and tests/core/test_line_splitter.py fuzz small inputs for correctness; this
module adds what they do not: a per-example deadline (hypothesis fails an example that runs
past it, so a quadratic path or a hang is caught), giant inputs (tens of MB, a million lines,
nesting a hundred thousand deep) under a wall-clock budget, and the line limit as a property.
Budgets are generous: the machine has 2 cores shared with other test runs.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from island_ssh.core.errors import IslandError
from island_ssh.core.line_splitter import LineSplitter, LineTooLong
from island_ssh.core.podstate import POD_STATES, PodParseError, classify
from island_ssh.core.watch_events import WatchParseError, parse_pod_list, parse_watch_line

DEADLINE = settings(max_examples=200, deadline=timedelta(seconds=2),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BUDGET = 10.0
"""Seconds a giant input may take (measured: well under 1 s each on an idle machine)."""
MB = 1 << 20


class within:
    """`with within(seconds):` fails the test if the block took longer."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what

    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        took = time.perf_counter() - self.started
        assert took < self.seconds, f"{self.what} took {took:.1f}s (budget {self.seconds}s)"


# -- LineSplitter ----------------------------------------------------------------------------------
@DEADLINE
@given(data=st.binary(max_size=4000), cuts=st.lists(st.integers(0, 4000), max_size=30),
       limit=st.integers(1, 64))
def test_line_limit_is_the_only_error_and_never_exceeded(data, cuts, limit):
    splitter = LineSplitter(max_line=limit)
    pieces, last = [], 0
    for cut in sorted(c for c in cuts if c <= len(data)) + [len(data)]:
        pieces.append(data[last:cut])
        last = cut
    longest = max((len(line) for line in data.split(b"\n")), default=0)
    try:
        lines = [line for piece in pieces for line in splitter.feed(piece)]
        tail = splitter.flush()
    except LineTooLong:
        assert longest > limit
        return
    # no error means every line fitted; and nothing was lost, invented or mangled
    assert longest <= limit
    expected = [raw.decode("utf-8", errors="replace") for raw in data.split(b"\n")]
    if expected[-1] == "":
        expected.pop()
    assert lines + ([tail] if tail is not None else []) == expected


def test_a_64_mib_line_in_64_kib_chunks_is_linear():
    chunk = b"x" * (64 * 1024)
    splitter = LineSplitter()
    with within(BUDGET, "a 64 MiB line"):
        for _ in range(1023):
            assert splitter.feed(chunk) == []
        lines = splitter.feed(chunk[:-1] + b"\n")
    assert len(lines) == 1 and len(lines[0]) == 64 * MB - 1


def test_runaway_output_without_newline_stops_at_the_limit():
    splitter = LineSplitter(max_line=MB)
    with within(BUDGET, "runaway output"), pytest.raises(LineTooLong, match="without a newline"):
        for _ in range(64):
            splitter.feed(b"y" * (64 * 1024))
    assert splitter.pending_bytes == 0  # what it held was dropped, not kept growing


def test_a_million_short_lines_in_one_chunk():
    with within(BUDGET, "a million lines"):
        lines = LineSplitter().feed(b"0123456789\n" * 1_000_000)
    assert len(lines) == 1_000_000


def test_byte_by_byte_feeding_of_a_watch_line():
    line = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "x" * 200_000}}}).encode() + b"\n"
    splitter = LineSplitter()
    out = []
    with within(BUDGET, "200 KB fed one byte per call"):
        for i in range(len(line)):
            out += splitter.feed(line[i:i + 1])
    assert len(out) == 1 and parse_watch_line(out[0]).type == "ADDED"


# -- watch parser ---------------------------------------------------------------------------------
HOSTILE_LINES = [
    "[" * 100_000 + "]" * 100_000,
    '{"type":"ADDED","object":' + '{"a":' * 100_000 + "1" + "}" * 100_001,
    '{"type":"ADDED","object":{"n":1e999999}}',
    '{"type":"ADDED","object":{"n":NaN}}',
    '{"type":"ADDED","object":{"n":Infinity}}',
    '{"type":"ADDED","object":{"s":"\\ud800"}}',
    '\ufeff{"type":"ADDED","object":{}}',
    '{"type":"ADDED","object":{}}\x00',
    '{"type":"ADDED","type":"DELETED","object":{}}',
    '{"type":"ADDED","object":{}} trailing',
    '{"type":"ADDED","object":{}}{"type":"ADDED","object":{}}',
    "",
    " \t\r",
    "null",
    '"ADDED"',
]

HOSTILE_KUBECTL_SHAPED = [
    '{"type":"ADDED","object":{"metadata":{"annotations":{"a":"b"' + '},"' * 100_000 + '}},"spec":{},"status":{}}}',
    '{"type":"ADDED","object":{"metadata":{},"spec":{' + '"nodeName":"n",' * 100_000 + '"a":1},"status":{}}}',
    '{"type":"ADDED","object":{"metadata":{},"spec":{},"status":' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}}",
    '{"type":"ADDED","object":{"metadata":' + '{"a":' * 100_000 + "1" + "}" * 100_000 + ',"spec":{},"status":{}}}',
    '{"type":"ADDED","object":{"metadata":{},' + '"spec":{},' * 100_000 + '"status":{}}}',
    '{"type":"ADDED","object":{"metadata":{},"spec":{},' + '"status":{},' * 100_000 + '"status":{}}}',
]
"""Lines shaped enough like kubectl's to take watch._slim_event's fast path as far as it goes."""


@pytest.mark.parametrize("slim", [False, True], ids=["full", "slim"])
@pytest.mark.parametrize("line", HOSTILE_LINES + HOSTILE_KUBECTL_SHAPED,
                         ids=range(len(HOSTILE_LINES + HOSTILE_KUBECTL_SHAPED)))
def test_hostile_watch_lines(line, slim):
    with within(BUDGET, "a hostile line"):
        try:
            event = parse_watch_line(line, slim=slim)
        except WatchParseError:
            return
    assert event.type in ("ADDED", "DELETED") and isinstance(event.object, dict)
    classify(event.object, "altraserver")


@pytest.mark.parametrize("slim", [False, True], ids=["full", "slim"])
@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"type":"ADDED","object":{"s":"\xc3"}}', b"\x00" * 1000,
                                 b'{"type":"ADDED","object":{"metadata":{"a":"\xc3"},"spec":{},"status":{}}}',
                                 b'{"type":"ADDED","object":{"metadata":{},"spec":{},"status":{"a":"\xc3"}}}'])
def test_invalid_utf8_bytes(raw, slim):
    with pytest.raises(WatchParseError):
        parse_watch_line(raw, slim=slim)


@pytest.mark.parametrize("slim", [False, True], ids=["full", "slim"])
@pytest.mark.parametrize("separators", [None, (",", ":")], ids=["spaced", "compact"])
def test_a_50_mb_watch_line(slim, separators):
    obj = {"metadata": {"annotations": {"big": "z" * (50 * MB)}}, "spec": {"x": '},"' * MB}, "status": {}}
    line = json.dumps({"type": "MODIFIED", "object": obj}, separators=separators)
    with within(BUDGET, "a 50 MB line"):
        event = parse_watch_line(line, slim=slim)
        view = classify(event.object, "altraserver")
    assert view.state == "pending"


def test_a_pod_list_of_20000_pods():
    pod = {"metadata": {"name": "p", "labels": {"island-ssh/id": "7"}}, "status": {"phase": "Pending"}}
    text = json.dumps({"kind": "PodList", "items": [pod] * 20_000})
    with within(BUDGET, "20,000 pods"):
        pods = parse_pod_list(text)
        views = [classify(p, "altraserver") for p in pods]
    assert len(views) == 20_000 and {v.island_id for v in views} == {7}


# -- classifier -------------------------------------------------------------------------------------
def _nested(depth: int) -> dict:
    node: dict = {}
    for _ in range(depth):
        node = {"state": node, "running": node}
    return node


@pytest.mark.parametrize("pod", [
    {"status": {"containerStatuses": [{"name": "altraserver", "state": {"running": {}}, "ready": True}] * 200_000}},
    {"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}] * 200_000}},
    {"status": {"containerStatuses": [{"name": "altraserver", "state": _nested(50_000)}]}},
    {"metadata": _nested(50_000), "spec": _nested(10), "status": _nested(10)},
    {"status": {"containerStatuses": {"name": "altraserver"}}},
    {"status": {"containerStatuses": [None, 1, "x", [], {"name": ["altraserver"]}]}},
    {"metadata": {"labels": {"island-ssh/id": "9" * 10_000}}},
    {"metadata": {"deletionTimestamp": {"$date": 1}}, "status": {"phase": ["Failed"]}},
], ids=["200k-statuses", "200k-conditions", "deep-state", "deep-metadata", "statuses-dict",
        "junk-statuses", "huge-id", "odd-types"])
def test_giant_or_odd_pods_classify_within_budget(pod):
    with within(BUDGET, "classify"):
        view = classify(pod, "altraserver")
    assert view.state in POD_STATES
    assert view.island_id is None or 1 <= view.island_id < 10**20


@DEADLINE
@given(st.text(alphabet=st.characters(), max_size=30))
def test_island_id_label_is_plain_ascii_digits_or_nothing(label):
    view = classify({"metadata": {"labels": {"island-ssh/id": label}}}, "altraserver")
    if view.island_id is not None:
        assert label.isascii() and label.isdigit() and int(label) == view.island_id


@pytest.mark.parametrize("obj", [None, [], "pod", 1, 1.5, True, b"{}"])
def test_non_mapping_is_the_declared_error(obj):
    with pytest.raises(PodParseError) as info:
        classify(obj, "altraserver")
    assert isinstance(info.value, IslandError)
