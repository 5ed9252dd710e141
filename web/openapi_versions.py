"""The OpenAPI parts of code versions (issue 15): GET /api/branches, the Island's ``code_version``
object and the registration's ``code_version`` field."""

from __future__ import annotations

from island_ssh_web.openapi_usage import ids_parameter

_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_STATE = {"type": "string", "enum": ["ok", "none", "unreadable", "unknown", "failed"],
          "description": "ok: a version; none: no version file; unreadable: the file held no valid version; "
                         "unknown: never reported (an island from before this feature); failed: the read failed"}


def versions_schemas() -> dict:
    return {
        "CodeVersion": {"type": "object", "required": ["version", "state", "outdated"], "description": (
            "What code the island mounted at start (the first line of islands.code_version_file on the shared "
            "code volume, read by its entry script) against its branch's current version: the file as the "
            "island's own node holds it now (else as all the branch's nodes agree), read through one running "
            "island per node and cached islands.code_version_check_interval."),
            "properties": {
                "version": {**_TEXT_OR_NULL, "description": "null unless state is ok"},
                "shown": {"type": "string", "description": "'abc123', 'no version', 'unreadable version' or 'unknown'"},
                "state": _STATE, "at": {**_TIME, "description": "when it registered"},
                "current": {**_TEXT_OR_NULL, "description": "the version it is compared with; null: not known"},
                "current_shown": _TEXT_OR_NULL,
                "outdated": {"type": "boolean", "description": "its version differs from the current one"},
                "note": {"type": "string", "description": "'older code: abc123, branch weekly is at def456', or ''"}}},
        "BranchVersion": {"type": "object", "required": ["branch", "version", "mixed", "nodes"], "properties": {
            "branch": {"type": "string"},
            "version": {**_TEXT_OR_NULL, "description": "the version every read node holds; null: unknown, "
                        "no version, unreadable or mixed"},
            "shown": {"type": "string"}, "mixed": {"type": "boolean", "description": "its nodes hold different versions"},
            "nodes": {"type": "array", "items": {"type": "object", "properties": {
                "node": {"type": "string"}, "pod": {"type": "string", "description": "the island read through"},
                "version": _TEXT_OR_NULL, "shown": {"type": "string"}, "state": _STATE,
                "error": {"type": "string"}, "read_at": _TIME}}}}},
        "CodeVersionReport": {"type": "object", "required": ["branches", "islands", "outdated"], "properties": {
            "branches": {"type": "array", "items": {"$ref": "#/components/schemas/BranchVersion"}},
            "islands": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "owner": {"type": "string"}, "branch": {"type": "string"},
                "node": _TEXT_OR_NULL, "state": {"type": "string"},
                "code_version": {"$ref": "#/components/schemas/CodeVersion"}}}},
            "outdated": {"type": "integer", "description": "how many islands run older code"},
            "file": {"type": "string", "description": "islands.code_version_file"},
            "check_interval": {"type": "number"}}},
    }


def registration_field() -> dict:
    """RegistrationRequest's code_version property."""
    return {"type": "string", "maxLength": 255, "description": (
        "the first line of the code's version file as the entry script read it: 1-128 of letters, digits "
        "and . _ - + : / @ # with single spaces inside; '' when there is no version file; '!unreadable' when "
        "the file held anything else. Any other value is refused (400) after the token check. Absent: an "
        "entry script from before code versions (the island's version stays unknown).")}


def versions_paths(user_auth, ok, errors) -> dict:
    return {"/api/branches": {"get": {
        "summary": "The branches' current code versions and every island's (or the given islands')",
        "operationId": "listBranchVersions",
        "security": user_auth,
        "description": "Answers the stored readings without waiting (a read starts in the background when they "
                       "are older than islands.code_version_check_interval); refresh=true reads the version file "
                       "on every node of every branch now (one remote command, one kubectl exec per node).",
        "parameters": [{"name": "refresh", "in": "query", "schema": {"type": "boolean"},
                        "description": "read the nodes now before answering"},
                       {**ids_parameter(), "description": ids_parameter()["description"]
                        + " Only the islands list is filtered (and outdated counts those); branches stays whole."}],
        "responses": {"200": ok("branches and islands", {"$ref": "#/components/schemas/CodeVersionReport"}),
                      **errors("400", "401", "503")}}}}
