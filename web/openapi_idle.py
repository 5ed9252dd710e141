"""The OpenAPI parts of idle islands (issue 14): GET /api/idle and the Island's ``idle`` object."""

from __future__ import annotations

_TIME = {"type": ["string", "null"], "format": "date-time"}


def idle_schemas() -> dict:
    return {
        "IdleStatus": {"type": "object", "required": ["idle"], "description": (
            "The island's idleness as of its last check. Activity is an ESTABLISHED TCP connection whose "
            "local port is one of the island's three ports, read from /proc/net/tcp and tcp6 inside its "
            "server container (listening sockets, TIME_WAIT and UDP do not count). An island is idle after "
            "islands.idle_after without one; a check that could not read the pod (unknown) changes nothing."),
            "properties": {
                "idle": {"type": "boolean"},
                "idle_since": {**_TIME, "description": "the last activity (or ready time) the quiet period counts from"},
                "idle_seconds": {"type": ["number", "null"], "description": "idle for this long at the last check"},
                "idle_text": {"type": "string", "description": "'idle 2h 10m', empty when not idle"},
                "last_activity_at": {**_TIME, "description": "the last check that saw a connection"},
                "activity_checked_at": {**_TIME, "description": "the last check that could read the pod"},
                "idle_warned_at": {**_TIME, "description": "the idle warning (islands.idle_expire), else null"}}},
        "IdleIsland": {"allOf": [{"$ref": "#/components/schemas/IdleStatus"}, {"type": "object", "properties": {
            "id": {"type": "integer"}, "owner": {"type": "string"}, "owner_id": {"type": "string"},
            "branch": {"type": "string"}, "ports": {"type": "array", "items": {"type": "integer"}}}}]},
        "IdleList": {"type": "object", "required": ["enabled", "islands"], "properties": {
            "enabled": {"type": "boolean", "description": "false when islands.idle_after is off"},
            "idle_after": {"type": "string"}, "idle_after_seconds": {"type": "number"},
            "expire": {"type": "boolean", "description": "islands.idle_expire: idle islands are deleted "
                       "(reason IdleExpired) idle_grace after the 'idle' warning"},
            "grace_seconds": {"type": "number"}, "check_interval_seconds": {"type": "number"},
            "now": _TIME, "islands": {"type": "array", "items": {"$ref": "#/components/schemas/IdleIsland"}}}},
    }


def idle_paths(user_auth, ok, errors) -> dict:
    return {"/api/idle": {"get": {
        "summary": "Idle islands", "operationId": "listIdle", "security": user_auth,
        "parameters": [{"name": "all", "in": "query", "schema": {"type": "boolean"},
                        "description": "every ready island with its idleness, not only the idle ones"}],
        "responses": {"200": ok("the idle islands (the check runs every islands.idle_check_interval)",
                                {"$ref": "#/components/schemas/IdleList"}), **errors("400", "401", "503")}}}}
