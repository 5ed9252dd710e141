"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and the strategic merge patch
kubectl sends (lists merged by their patchMergeKey, ``$patch``/``$retainKeys`` and
``$setElementOrder``/``$deleteFromPrimitiveList`` directives). Pure.
"""

from __future__ import annotations

from typing import Any

from island_sandbox.apierrors import ApiError, bad_request, unsupported_media_type
from island_sandbox.objects import json_copy

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"

# patchMergeKey of the lists we store (from k8s.io/api/core/v1 struct tags).
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "ports": "containerPort", "conditions": "type", "containerStatuses": "name",
    "initContainerStatuses": "name", "hostAliases": "ip", "imagePullSecrets": "name",
    "addresses": "type", "ownerReferences": "uid", "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name",
}


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return json_copy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            doc = doc[part]
        else:
            raise KeyError(part)
    return doc


def _set(doc: Any, parts: list[str], value: Any, insert: bool) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    else:
        if not insert and last not in parent:
            raise KeyError(last)
        parent[last] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _walk(doc, parts[:-1])
    if isinstance(parent, list):
        return parent.pop(int(parts[-1]))
    return parent.pop(parts[-1])


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc = json_copy(target)
    for op in operations:
        try:
            kind, path = op["op"], _pointer(op["path"])
            if kind == "add":
                doc = _set(doc, path, json_copy(op["value"]), insert=True)
            elif kind == "replace":
                doc = _set(doc, path, json_copy(op["value"]), insert=False)
            elif kind == "remove":
                _remove(doc, path)
            elif kind in ("move", "copy"):
                source = _pointer(op["from"])
                value = _remove(doc, source) if kind == "move" else json_copy(_walk(doc, source))
                doc = _set(doc, path, value, insert=True)
            elif kind == "test":
                if _walk(doc, path) != op["value"]:
                    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in "
                                   f"our request: testing value {op['path']} failed")
            else:
                raise bad_request(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            if isinstance(e, ApiError):
                raise
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                           f"request: doc is missing path: {op.get('path')!r}") from None
    return doc


def _merge_list(key: str, current: list[Any], patch: list[Any]) -> list[Any]:
    merge_key = MERGE_KEYS.get(key)
    if merge_key is None or not all(isinstance(p, dict) for p in patch):
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        return json_copy(patch)
    if any(p.get("$patch") == "replace" for p in patch):
        return [strip_directives(p) for p in patch if "$patch" not in p]
    result = [json_copy(c) for c in current]
    for item in patch:
        ident = item.get(merge_key)
        index = next((i for i, c in enumerate(result) if isinstance(c, dict) and c.get(merge_key) == ident), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(strip_directives(item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return strip_directives(json_copy(patch))
    if patch.get("$patch") == "replace":
        return strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if patch.get("$patch") == "delete":
        return None
    result = json_copy(target)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            merged = strategic_merge(result[key], value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = strip_directives(json_copy(value))
    if retain is not None:
        result = {k: v for k, v in result.items() if k in retain}
    return result


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    media = (content_type or "").split(";")[0].strip()
    if media == JSON_PATCH:
        result = json_patch(target, patch)
    elif media == MERGE_PATCH:
        result = merge_patch(target, patch)
    elif media == STRATEGIC_PATCH:
        result = strategic_merge(target, patch)
    else:
        raise unsupported_media_type(media)
    if not isinstance(result, dict):
        raise bad_request("the patch did not produce an object")
    return result
