"""The audit log's and quotas' part of the OpenAPI description (web/api_audit.py; openapi.py merges it in)."""

from __future__ import annotations

from island_ssh.core.audit import ACTOR_KINDS, LIMIT_MAX

SCOPE_TEXT = ("admins read every entry (scope 'all'); any other user the entries about islands they owned when "
              "the entry was written and the entries they caused themselves (scope 'own')")
SINCE_TEXT = "an ISO 8601 time (2026-12-03T11:00:00Z; no offset = UTC) or a span back from now: 90m, 2h, 7d"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def audit_schemas() -> dict:
    text = {"type": "string"}
    return {
        "AuditActor": {"type": "object", "required": ["kind", "id", "name", "label", "automatic"], "properties": {
            "kind": {"type": "string", "enum": list(ACTOR_KINDS)}, "id": text, "name": text,
            "label": {"type": "string", "description": "'刘电波 (u123)', 'operator (CLI)', 'recover job', ..."},
            "automatic": {"type": "boolean", "description": "one of island_ssh's jobs (or the island's pod), "
                                                            "not a person"}}},
        "AuditEntry": {"type": "object", "required": ["id", "at", "actor", "action"], "properties": {
            "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
            "actor": _ref("AuditActor"),
            "action": {"type": "string", "description": "launch, delete, restart, register, clock, extend, expire, "
                                                        "failed, lost, pod-gone, quota-refused, recover-<kind>, ..."},
            "island_id": _nullable({"type": "integer"}), "generation": _nullable({"type": "integer"}),
            "owner_id": _nullable(text), "detail": text}},
        "AuditLog": {"type": "object", "required": ["entries", "scope"], "properties": {
            "entries": {"type": "array", "items": _ref("AuditEntry"), "description": "newest first"},
            "scope": {"type": "string", "enum": ["all", "own"], "description": SCOPE_TEXT}}},
        "IslandAudit": {"type": "object", "required": ["island_id", "entries", "who_deleted"], "properties": {
            "island_id": {"type": "integer"}, "entries": {"type": "array", "items": _ref("AuditEntry")},
            "who_deleted": {"type": "string", "description": "one line: who (or which job) ended the island, when"},
            "deleted_by": _nullable(_ref("AuditEntry")),
            "scope": {"type": "string", "enum": ["all", "own"]}}},
        "Quota": {"type": "object", "required": ["owner_id", "islands", "max_islands", "text"], "properties": {
            "owner_id": text, "owner": text, "islands": {"type": "integer", "minimum": 0},
            "max_islands": _nullable({"type": "integer", "minimum": 0}),
            "memory": {"type": "string", "description": "total memory request of the owner's islands, e.g. 4.5Gi"},
            "memory_bytes": {"type": "integer", "minimum": 0},
            "max_memory": _nullable(text), "max_memory_bytes": _nullable({"type": "integer", "minimum": 0}),
            "source": {"type": "string", "description": "where the limits come from: default, user ID, group G, "
                                                        "admin (exempt)"},
            "unlimited": {"type": "boolean"}, "enabled": {"type": "boolean", "description": "any quota configured"},
            "text": {"type": "string", "description": "'you use 2 of 3 islands (3Gi of 6Gi)'"}}},
    }


def audit_paths(island_id: dict, user_auth: list, ok, errors) -> dict:
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX,
                                                        "default": 200}}
    return {
        "/api/audit": {"get": {
            "summary": "Who did what to which island (filterable)", "operationId": "listAudit",
            "description": SCOPE_TEXT + ". Unknown parameters are refused (400).", "security": user_auth,
            "parameters": [
                {"name": "island", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 9999999999}},
                {"name": "actor", "in": "query", "description": "a user id, or recover / tracker / operator / "
                 "lease-reaper / idle-reaper / timeline / pod", "schema": {"type": "string", "maxLength": 128}},
                {"name": "action", "in": "query", "schema": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,47}$"}},
                {"name": "since", "in": "query", "description": SINCE_TEXT, "schema": {"type": "string",
                 "maxLength": 40}},
                limit],
            "responses": {"200": ok("entries newest first", _ref("AuditLog")), **errors("400", "401", "503")}}},
        "/api/islands/{island_id}/audit": {"parameters": [island_id], "get": {
            "summary": "The island's audit trail and who deleted it", "operationId": "getIslandAudit",
            "description": SCOPE_TEXT, "security": user_auth, "parameters": [limit],
            "responses": {"200": ok("the trail, newest first", _ref("IslandAudit")),
                          **errors("400", "401", "404", "503")}}},
        "/api/quota": {"get": {
            "summary": "Your islands and memory against your quota (admins: ?user=ID)", "operationId": "getQuota",
            "security": user_auth,
            "parameters": [{"name": "user", "in": "query", "description": "a user id (admins only; empty: yourself)",
                            "schema": {"type": "string", "maxLength": 128}}],
            "responses": {"200": ok("the quota", _ref("Quota")), **errors("400", "401", "403", "503")}}},
    }
