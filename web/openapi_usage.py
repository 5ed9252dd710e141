"""The OpenAPI parts of per-island resource use (issue 15): GET /api/islands/<id>/usage, GET /api/usage,
and the ``ids`` filter GET /api/usage and GET /api/branches share."""

from __future__ import annotations

from island_ssh.core.names import MAX_ID
from island_ssh.service.usage import MAX_IDS

_TIME = {"type": ["string", "null"], "format": "date-time"}
_INT = {"type": ["integer", "null"]}
_TEXT = {"type": ["string", "null"]}


def usage_schemas() -> dict:
    return {
        "IslandUsage": {"type": "object", "required": ["id", "state", "available", "reason", "warning", "text",
                                                       "memory_limit_bytes", "memory_limit"], "description": (
            "The island's server container against its memory limit, from the cluster's metrics API "
            "(metrics.k8s.io, metrics-server; the sandbox serves it from its real processes). One poll for all "
            "islands is shared for islands.usage_cache_seconds. available is false, with the reason, without "
            "metrics-server, while the server is not running, or before its first sample: never an error."),
            "properties": {
                "id": {"type": "integer"}, "state": {"type": "string"},
                "available": {"type": "boolean"},
                "reason": {"type": "string", "description": "why there is no value ('' when available)"},
                "memory_bytes": _INT, "memory": {**_TEXT, "description": "as kubectl top prints it: '412Mi'"},
                "memory_limit_bytes": {"type": "integer"},
                "memory_limit": {"type": "string", "description": "the limit the island was launched with: '2Gi'"},
                "memory_percent": {**_INT, "description": "of the limit, rounded"},
                "warning": {"type": "boolean", "description": "memory at or past islands.memory_warning of the limit"},
                "warning_fraction": {"type": "number"},
                "cpu_nanocores": _INT, "cpu": {**_TEXT, "description": "milli-cores: '12m'"},
                "cpu_limit": {**_TEXT, "description": "islands have no cpu limit: null"},
                "sampled_at": _TIME,
                "window_seconds": {"type": ["number", "null"], "description": "the cpu rate's window"},
                "text": {"type": "string",
                         "description": "'mem 412Mi / 1Gi (40%) · cpu 12m' or 'usage not available: ...'"},
                "oom_killed": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
                    "reason": {"type": "string", "enum": ["OOMKilled"]}, "limit": {"type": "string"},
                    "text": {"type": "string", "description": "'killed: out of memory at 1Gi'"}}}],
                    "description": "set when the island's server was OOMKilled (its reason), at which limit"}}},
        "UsageList": {"type": "object", "required": ["available", "islands"], "properties": {
            "available": {"type": "boolean", "description": "false: the cluster has no metrics API (or it failed)"},
            "reason": {"type": "string"}, "warning_fraction": {"type": "number"},
            "cache_seconds": {"type": "number"}, "polled_at": _TIME,
            "warnings": {"type": "array", "items": {"type": "integer"}, "description": "ids past the warning"},
            "islands": {"type": "array", "items": {"$ref": "#/components/schemas/IslandUsage"}}}},
    }


def ids_parameter() -> dict:
    """``?ids=3,5,12``: the islands page asks for the rows it shows, so its poll costs one page."""
    one = f"[0-9]{{1,{len(str(MAX_ID))}}}"
    return {"name": "ids", "in": "query",
            "schema": {"type": "string", "pattern": f"^{one}(,{one}){{0,{MAX_IDS - 1}}}$"},
            "description": f"only these islands: up to {MAX_IDS} ids (whole numbers 0 to {MAX_ID}) separated by "
                           "commas; ids with no island, or a deleted one, are left out of the answer. Absent: every "
                           "island that is not deleted. An empty item, a sign, a non-ASCII digit or more ids is a 400."}


def usage_paths(island_id, user_auth, ok, errors) -> dict:
    return {
        "/api/islands/{island_id}/usage": {"get": {
            "summary": "The island's memory and cpu use against its limit", "operationId": "islandUsage",
            "security": user_auth, "parameters": [island_id],
            "responses": {"200": ok("its use (available false, with the reason, when there is none)",
                                    {"$ref": "#/components/schemas/IslandUsage"}), **errors("401", "404", "503")}}},
        "/api/usage": {"get": {
            "summary": "Every island's memory and cpu use (one metrics poll for all)", "operationId": "listUsage",
            "security": user_auth, "parameters": [ids_parameter()],
            "responses": {"200": ok("islands that are not deleted (with ids: those of them)",
                                    {"$ref": "#/components/schemas/UsageList"}),
                          **errors("400", "401", "503")}}},
    }
