"""Parse what ``kubectl get pods`` prints: watch-event lines and pod lists.

Pure: no I/O. The reader thread splits the SSH byte stream into lines; each line of
``kubectl get pods -w --output-watch-events -o json`` is one compact JSON object
``{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}``. An ERROR event's object
is a ``Status``; code 410 (Gone / Expired) means the watch's resourceVersion is too old and the
caller must re-list (``WatchEvent.is_gone``).

``parse_watch_line(line, slim=True)`` gives pod events with ``slim_pod(pod)``: only what
classify() and the tracker read. On kubectl's lines it builds just that (the spec and the
annotations are most of a pod's JSON), which is what the tracker's events/s goal wants
(bench/classify.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from island_ssh.core.errors import WatchParseError  # lives with the family; callers import it from here too

# orjson parses pod JSON ~2.5x faster; the tracker's throughput goal needs it. It reads integers
# beyond 64 bits as floats, which Kubernetes (Go int64) never sends.
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the stdlib parser is correct, only slower
    _orjson = None

JSON_PARSER = "orjson" if _orjson is not None else "json"

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})
POD_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})
LIST_KINDS = frozenset({"List", "PodList"})


@dataclass(frozen=True)
class WatchEvent:
    type: str
    object: dict

    @property
    def is_gone(self) -> bool:
        """True for the ERROR event that means "resourceVersion too old": re-list, then watch again."""
        if self.type != "ERROR":
            return False
        return self.object.get("code") == 410 or self.object.get("reason") in ("Gone", "Expired")

    @property
    def error_message(self) -> str:
        """For ERROR events, the Status message (empty otherwise)."""
        message = self.object.get("message") if self.type == "ERROR" else None
        return message if isinstance(message, str) else ""


def _excerpt(text: str) -> str:
    return repr(text[:80]) + ("..." if len(text) > 80 else "")


def _load_json(text: str | bytes, what: str) -> Any:
    if _orjson is not None and isinstance(text, (str, bytes, bytearray)):
        try:
            return _orjson.loads(text)
        except _orjson.JSONDecodeError:
            pass  # fall through to the stdlib parser for the precise error message
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WatchParseError(f"{what}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not isinstance(text, str):
        raise WatchParseError(f"{what}: expected text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise WatchParseError(f"{what}: empty; skip blank lines before parsing")
    try:
        return json.loads(stripped)
    except RecursionError:
        raise WatchParseError(f"{what}: JSON nested too deeply") from None
    except ValueError as exc:
        raise WatchParseError(f"{what}: not JSON ({exc}): {_excerpt(stripped)}") from None


def parse_watch_line(line: str | bytes, *, slim: bool = False) -> WatchEvent:
    """One line of ``kubectl get pods -w --output-watch-events -o json`` as a WatchEvent.

    ``slim=True``: the object of a pod event (ADDED, MODIFIED, DELETED) is ``slim_pod`` of the
    pod, what classify() and the tracker read, and a kubectl line is parsed without building
    the rest (the spec, the annotations: most of the line). See ``_slim_event`` for the shape it
    relies on; any other line goes through the full parser, with its errors.
    """
    if slim:
        event = _slim_event(line)
        if event is not None:
            return event
        event = parse_watch_line(line)
        if event.type in POD_EVENT_TYPES:
            return WatchEvent(event.type, slim_pod(event.object))
        return event
    data = _load_json(line, "watch line")
    if not isinstance(data, dict):
        raise WatchParseError(f"watch line: expected a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise WatchParseError(
            f"watch line: type {kind!r} is not one of {', '.join(sorted(EVENT_TYPES))}; "
            "was kubectl run with --output-watch-events -o json?"
        )
    obj = data.get("object")
    if not isinstance(obj, dict):
        raise WatchParseError(f"watch line: {kind} event without an object mapping")
    return WatchEvent(kind, obj)


# -- slim pod events --------------------------------------------------------------------------------
SLIM_DROPPED_METADATA = ("annotations", "managedFields")


def slim_pod(pod: dict) -> dict:
    """The part of a Pod that classify() and the tracker read (a new dict; ``pod`` is untouched).

    apiVersion, kind and status as they are; metadata without annotations and managedFields;
    spec reduced to its nodeName. Other top-level keys are left out.
    """
    slim = {key: pod[key] for key in ("apiVersion", "kind", "metadata", "spec", "status") if key in pod}
    meta = slim.get("metadata")
    if isinstance(meta, dict):
        slim["metadata"] = {k: v for k, v in meta.items() if k not in SLIM_DROPPED_METADATA}
    spec = slim.get("spec")
    if isinstance(spec, dict):
        slim["spec"] = {"nodeName": spec["nodeName"]} if "nodeName" in spec else {}
    return slim


def _marks(cast):
    return (cast(',"status":{'), cast(',"spec":{'), cast('"annotations":{'), cast('},"'), cast('"nodeName":'),
            cast(","), cast("{"), cast('"'), cast("}}"), tuple(cast(c) for c in ',:}] \t\n\r'))


_STATUS_VALUE = len(',"status":')
_ANNOTATIONS_VALUE = len('"annotations":{')
_NODE_VALUE = len('"nodeName":')
_STR_MARKS = _marks(str)
_BYTES_MARKS = _marks(lambda text: text.encode("ascii"))
"""What _slim_event looks for in a line, as str and as bytes."""


def _slim_event(line: str | bytes) -> WatchEvent | None:
    """The slim pod event of a line as kubectl prints it, or None to take the full parser.

    kubectl (Go) prints each event compact on one line, the pod's keys sorted:
    ``{"type":T,"object":{"apiVersion":..,"kind":..,"metadata":{"annotations":{..},
    "creationTimestamp":..,..},"spec":{..},"status":{..}}}``. Two pieces of it go through
    orjson: the status, and the line up to the spec closed with ``}}``, less the annotations
    (client-side apply's copy of the whole manifest: most of the metadata); from the spec only
    nodeName is picked out. Building the spec and the annotations is most of a full parse.

    Why the cuts fall right: a ``"`` after ``,`` or ``{`` and before a letter opens a key, so
    ``,"status":{`` and the others are keys, never text inside a string. The status piece parses
    only if that key is the last one of a second-level object, the head only if the spec key
    sits in one (exactly ``}}`` closes it). In ``},"`` followed by anything that cannot follow
    a closing quote, the quote opens a key, so the brace is structural; the first such brace
    after ``"annotations":{`` is the annotations' end if a key follows them, and any other cut
    leaves the braces unbalanced, so the head does not parse.

    What it trusts instead of checking, as kubectl's output gives it: the line is well-formed
    compact JSON without duplicate keys; the envelope has only type and object; no pod key sits
    between spec and status (kubectl sorts them: apiVersion, kind, metadata, spec, status); and
    the only key named nodeName in the spec is spec.nodeName (the Pod schema has no other).
    Then the result equals ``slim_pod`` of the full parse. A line breaking that trust may come
    out differently from the full parser (e.g. without a key between spec and status), where
    the full parser would have given another object or an error. Lines of other shapes return
    None (the full parser decides, with its errors), as do a node name with escapes and events
    other than ADDED, MODIFIED and DELETED.
    """
    if isinstance(line, str):
        (status_key, spec_key, annotations_key, object_then_key, node_key, comma, brace, quote, close,
         after_closing_quote) = _STR_MARKS
    elif isinstance(line, bytes):
        (status_key, spec_key, annotations_key, object_then_key, node_key, comma, brace, quote, close,
         after_closing_quote) = _BYTES_MARKS
    else:
        return None
    if _orjson is None:
        return None
    line = line.rstrip()
    if not line.endswith(close):
        return None
    status_at = line.rfind(status_key)
    if status_at < 0:
        return None
    cut_from = line.find(annotations_key, 0, status_at)
    cut_to = -1
    if cut_from > 0:
        cut_to = line.find(object_then_key, cut_from + _ANNOTATIONS_VALUE, status_at)
        if cut_to > 0 and line[cut_to + 3 : cut_to + 4] in after_closing_quote:
            cut_to = -1
    spec_at = line.find(spec_key, cut_to if cut_to > 0 else cut_from if cut_from > 0 else 0, status_at)
    if spec_at < 0:
        return None
    if cut_to < 0:
        head = line[:spec_at] + close
    elif line[cut_from - 1 : cut_from] == comma:  # drop ,"annotations":{...}
        head = line[: cut_from - 1] + line[cut_to + 1 : spec_at] + close
    elif line[cut_from - 1 : cut_from] == brace:  # drop "annotations":{...},
        head = line[:cut_from] + line[cut_to + 2 : spec_at] + close
    else:
        head = line[:spec_at] + close
    loads = _orjson.loads
    try:
        status = loads(line[status_at + _STATUS_VALUE : -2])
        envelope = loads(head)
    except _orjson.JSONDecodeError:
        return None
    if not isinstance(envelope, dict):
        return None
    kind = envelope.get("type")
    pod = envelope.get("object")
    if not isinstance(kind, str) or kind not in POD_EVENT_TYPES or not isinstance(pod, dict):
        return None
    if next(reversed(envelope)) != "object" or "metadata" not in pod:
        return None  # the cut was in another key's value, or the metadata comes later
    slim = {key: pod[key] for key in ("apiVersion", "kind") if key in pod}
    meta = slim["metadata"] = pod["metadata"]
    if isinstance(meta, dict):
        for key in SLIM_DROPPED_METADATA:
            meta.pop(key, None)
    node_at = line.rfind(node_key, spec_at, status_at)
    if node_at < 0:
        slim["spec"] = {}
    else:
        start = node_at + _NODE_VALUE
        end = line.find(quote, start + 1, status_at)
        if end < 0 or line[start : start + 1] != quote or line[node_at - 1 : node_at] not in (comma, brace):
            return None
        node = line[start + 1 : end]
        if not node.isascii():
            return None
        if isinstance(node, bytes):
            node = node.decode("ascii")
        if not node.isprintable() or "\\" in node:
            return None
        slim["spec"] = {"nodeName": node}
    slim["status"] = status
    return WatchEvent(kind, slim)


def parse_pod_list(text: str | bytes) -> list[dict]:
    """The pods of ``kubectl get pods -o json`` (kind List or PodList; a single Pod gives [pod])."""
    data = _load_json(text, "pod list")
    if not isinstance(data, dict):
        raise WatchParseError(f"pod list: expected a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind == "Pod":
        return [data]
    if not isinstance(kind, str) or kind not in LIST_KINDS:
        raise WatchParseError(f"pod list: kind {kind!r}, expected List or PodList")
    items = data.get("items")
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise WatchParseError("pod list: items must be a list of objects")
    return items
