"""Server-side apply (``PATCH`` with ``application/apply-patch+yaml``), as the real API server's
field manager does it, for the kinds and lists the sandbox stores. Pure.

An apply names its field manager (``?fieldManager=``, required) and sends the fields it wants to
own. The object is created when missing, else merged (lists by their merge key, as
strategic merge; other lists and scalars are atomic); ``metadata.managedFields`` records for each
manager the fields it owns (FieldsV1: ``{"f:metadata": {"f:labels": {"f:app": {}}}}``, list items
as ``k:{"name":"server"}``). A field another manager owns with a different value is a conflict:
409 with the real message unless ``?force=true``, which takes the field from it. Fields the manager
applied before and applies no more are removed when nobody else owns them.

Not emulated: ownership recorded by Update operations (POST/PUT/other PATCHes record none here,
so a client-side-applied object is taken over without conflict, as kubectl's own migration of
``kubectl-client-side-apply`` fields does on a real cluster), and apply to subresources.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from island_sandbox.apierrors import ApiError
from island_sandbox.objects import json_copy
from island_sandbox.patches import MERGE_KEYS, strategic_merge

APPLY_PATCH = "application/apply-patch+yaml"
# Keys of list items as the schema declares them (listMapKeys), where more than the merge key
LIST_MAP_KEYS: dict[str, tuple[str, ...]] = {"ports": ("containerPort", "protocol")}
# Never owned: the object's identity and what the server keeps itself
NOT_OWNED = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"),
             ("metadata", "uid"), ("metadata", "resourceVersion"), ("metadata", "creationTimestamp"),
             ("metadata", "generation"), ("metadata", "managedFields"), ("metadata", "selfLink"), ("status",)}

Path = tuple  # of str (a map key) or tuple[tuple[str, Any], ...] (a list item's keys)


def is_apply(content_type: str) -> bool:
    return (content_type or "").split(";")[0].strip() == APPLY_PATCH


def _item_key(list_name: str, item: dict) -> tuple[tuple[str, Any], ...]:
    names = LIST_MAP_KEYS.get(list_name, (MERGE_KEYS[list_name],))
    defaults = {"protocol": "TCP"}
    return tuple((n, item.get(n, defaults.get(n))) for n in names)


def leaf_paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """The paths of the fields ``value`` sets: map keys, keyed list items, atomic leaves."""
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            path = prefix + (key,)
            if path in NOT_OWNED:
                continue
            if isinstance(sub, list) and key in MERGE_KEYS and sub and all(isinstance(i, dict) for i in sub):
                for item in sub:
                    item_path = path + (_item_key(key, item),)
                    yield item_path
                    yield from leaf_paths(item, item_path)
            elif isinstance(sub, dict) and sub:
                yield from leaf_paths(sub, path)
            else:
                yield path
    elif prefix:
        yield prefix


def value_at(obj: Any, path: Path) -> Any:
    """The value at ``path`` (None when absent); a list item path gives the item itself."""
    for step in path:
        if isinstance(step, tuple):
            items = obj if isinstance(obj, list) else []
            obj = next((i for i in items if isinstance(i, dict) and all(i.get(k, {"protocol": "TCP"}.get(k)) == v
                                                                          for k, v in step)), None)
        elif isinstance(obj, dict):
            obj = obj.get(step)
        else:
            return None
        if obj is None:
            return None
    return obj


def remove_path(obj: Any, path: Path) -> None:
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    step = path[-1]
    if isinstance(step, tuple) and isinstance(parent, list):
        item = value_at(parent, (step,))
        if item is not None:
            parent.remove(item)
    elif isinstance(parent, dict):
        parent.pop(step, None)


def path_string(path: Path) -> str:
    """As structured-merge-diff prints a path: .spec.containers[name="server"].image"""
    out = ""
    for step in path:
        if isinstance(step, tuple):
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in step) + "]"
        else:
            out += f".{step}"
    return out


def encode_fields(paths: set[Path]) -> dict[str, Any]:
    """FieldsV1 of a set of paths."""
    root: dict[str, Any] = {}
    for path in sorted(paths, key=repr):
        node = root
        for step in path:
            if isinstance(step, tuple):
                node = node.setdefault("k:" + json.dumps(dict(step), separators=(",", ":")), {})
                node.setdefault(".", {})
            else:
                node = node.setdefault(f"f:{step}", {})
    return root


def decode_fields(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, sub in (fields or {}).items():
        if key == ".":
            out.add(prefix)
            continue
        kind, _, name = key.partition(":")
        step: Any = tuple(json.loads(name).items()) if kind == "k" else name
        path = prefix + (step,)
        if sub:
            out |= decode_fields(sub, path)
        else:
            out.add(path)
    return out


def _conflict_error(conflicts: list[tuple[str, Path]]) -> ApiError:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {json.dumps(m)}",
               "field": path_string(p)} for m, p in conflicts]
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {json.dumps(manager)}: {path_string(path)}"
    else:
        lines = []
        for manager in sorted({m for m, _ in conflicts}):
            lines.append(f"conflicts with {json.dumps(manager)}:")
            lines += [f"- {path_string(p)}" for m, p in conflicts if m == manager]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


def apply(current: dict[str, Any] | None, applied: dict[str, Any], manager: str, force: bool,
          now: str) -> dict[str, Any]:
    """The object after ``manager`` applied ``applied`` to ``current`` (None: to be created)."""
    if not manager:
        raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                                       "is required for apply patch")
    if not isinstance(applied, dict):
        raise ApiError(400, "BadRequest", "the apply patch must be an object")
    owned = set(leaf_paths(applied))
    entries = [json_copy(e) for e in ((current or {}).get("metadata") or {}).get("managedFields") or []]
    mine = next((e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"), None)
    before = decode_fields(mine.get("fieldsV1", {})) if mine else set()
    others = [e for e in entries if e is not mine]
    conflicts: list[tuple[str, Path]] = []
    other_sets = []
    for entry in others:
        theirs = decode_fields(entry.get("fieldsV1", {}))
        clash = {p for p in owned & theirs if value_at(current, p) != value_at(applied, p)
                 and not isinstance(p[-1], tuple)}
        conflicts += [(entry.get("manager", ""), p) for p in sorted(clash, key=repr)]
        other_sets.append((entry, theirs - clash if force else theirs))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    result = strategic_merge(json_copy(current), json_copy(applied)) if current else json_copy(applied)
    still_owned = set().union(*(s for _, s in other_sets)) if other_sets else set()
    for path in sorted(before - owned - still_owned, key=len, reverse=True):
        remove_path(result, path)
    managed = []
    for entry, fields in other_sets:
        if fields:
            entry["fieldsV1"] = encode_fields(fields)
            managed.append(entry)
    managed.append({"manager": manager, "operation": "Apply", "apiVersion": applied.get("apiVersion", "v1"),
                    "time": now, "fieldsType": "FieldsV1", "fieldsV1": encode_fields(owned)})
    result.setdefault("metadata", {})["managedFields"] = managed
    return result
