import json

import pytest

from island_ssh.core.watch_events import WatchEvent, WatchParseError, parse_pod_list, parse_watch_line

from .helpers import pod, watch_line

GONE = (
    '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    '"message":"too old resource version: 1001 (2047)","reason":"Expired","code":410}}'
)


@pytest.mark.parametrize("kind", ["ADDED", "MODIFIED", "DELETED"])
def test_pod_events_parse(kind):
    raw = pod("ready")
    event = parse_watch_line(watch_line(kind, raw))
    assert event == WatchEvent(kind, raw)
    assert not event.is_gone


def test_bytes_and_trailing_newline_accepted():
    line = watch_line("ADDED", pod("pending")) + "\r\n"
    assert parse_watch_line(line.encode("utf-8")).object["metadata"]["annotations"]["island-ssh/owner"] == "刘电波"


def test_gone_error_tells_caller_to_relist():
    event = parse_watch_line(GONE)
    assert event.type == "ERROR" and event.is_gone
    assert "too old resource version" in event.error_message


def test_other_error_is_not_gone():
    event = parse_watch_line('{"type":"ERROR","object":{"kind":"Status","code":500,"message":"boom"}}')
    assert not event.is_gone and event.error_message == "boom"


def test_bookmark():
    event = parse_watch_line('{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"2050"}}}')
    assert event.type == "BOOKMARK"


@pytest.mark.parametrize(
    "line, hint",
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("NAME   READY   STATUS", "not JSON"),
        ('{"type":"ADDED","object":{"kind":"Pod"', "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type":"SOMETHING","object":{}}', "--output-watch-events"),
        ('{"object":{}}', "type None"),
        ('{"type":"ADDED","object":null}', "without an object"),
        ('{"type":"ADDED","object":[1]}', "without an object"),
        ("[" * 100000 + "]" * 100000, "nested"),
        (b"\xff\xfe{}", "UTF-8"),
        (None, "expected text"),
    ],
)
def test_malformed_lines_raise_declared_error(line, hint):
    with pytest.raises(WatchParseError) as info:
        parse_watch_line(line)
    assert hint in str(info.value)


def test_multi_line_json_object_is_refused():
    # plain -o json with -w prints objects over many lines: the splitter must not feed those here
    text = json.dumps({"type": "ADDED", "object": pod("pending")}, indent=4)
    with pytest.raises(WatchParseError):
        parse_watch_line(text.splitlines()[0])


def test_pod_list():
    items = [pod("ready"), pod("pending")]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}, indent=4)
    assert parse_pod_list(text) == items
    assert parse_pod_list(json.dumps({"kind": "PodList", "items": []})) == []
    assert parse_pod_list(json.dumps({"kind": "List", "items": None})) == []
    assert parse_pod_list(json.dumps(items[0])) == [items[0]]


@pytest.mark.parametrize(
    "text",
    ['{"kind":"Status"}', '{"kind":"List","items":{}}', '{"kind":"List","items":[1]}', "[]", "No resources found"],
)
def test_bad_pod_list(text):
    with pytest.raises(WatchParseError):
        parse_pod_list(text)


def test_stdlib_fallback_parses_the_same(monkeypatch):
    import island_ssh.core.watch_events as watch

    line = watch_line("MODIFIED", pod("ready"))
    fast = parse_watch_line(line)
    monkeypatch.setattr(watch, "_orjson", None)
    assert parse_watch_line(line) == fast
    with pytest.raises(WatchParseError, match="not JSON"):
        parse_watch_line(line[:-1])
