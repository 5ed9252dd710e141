"""The OpenAPI 3 description of the JSON API, built from the settings (branches, id range) as data.

Kept beside the views it describes; tests/web/test_openapi_fuzz.py runs schemathesis against it,
so a response that drifts from this text fails a test.
"""

from __future__ import annotations

from island_ssh.core.names import CONTAINERS, ISLAND_STATES, MAX_ID, STATE_GROUPS

from island_ssh_web.openapi_clock import clock_paths, clock_schemas
from island_ssh_web.openapi_idle import idle_paths, idle_schemas
from island_ssh_web.openapi_leases import lease_paths, lease_property, lease_schemas
from island_ssh_web.openapi_notify import notify_paths, notify_schemas
from island_ssh_web.openapi_remains import remains_paths
from island_ssh_web.openapi_versions import registration_field, versions_paths, versions_schemas
from island_ssh_web.openapi_audit import audit_paths, audit_schemas
from island_ssh_web.openapi_usage import usage_paths, usage_schemas
from island_ssh_web.openapi_metrics import METRICS_SECURITY, metrics_paths

_ONE_STATE = "(|" + "|".join(ISLAND_STATES) + ")"
_STATE_LIST = f"^{_ONE_STATE}(,{_ONE_STATE})*$"
"""The `state` filter as the API reads it: comma-separated states, empty items ignored."""

START_TIME = r"^(|[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2})$"
MEMORY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

ERROR_CODES = {
    "400": "The request was refused: the message names the field and why",
    "401": "No user: send Authorization: Bearer <token>, or log in",
    "403": "Not allowed (not the island's owner or an admin, or a missing CSRF token)",
    "404": "No such island",
    "410": "The island's pod is gone, and what only the pod held (its remains) went with it",
    "409": "No capacity, no free island id, or over the owner's quota (the message has the numbers)",
    "413": "Body too large",
    "415": "The body must be JSON",
    "429": "Too many failed logins or unknown tokens from this address: wait Retry-After seconds",
    "502": "kubectl failed on the Kubernetes master, or printed what we could not read",
    "503": "The master or the database cannot be reached (retry)",
    "504": "kubectl did not answer in time",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict:
    out = {code: {"description": ERROR_CODES[code], **_json(_ref("Error"))} for code in codes}
    out["default"] = {"description": "Any other error, with a message a person can act on", **_json(_ref("Error"))}
    return out


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def schemas(settings) -> dict:
    text = {"type": "string"}
    time = _nullable({"type": "string", "format": "date-time"})
    state = {"type": "string", "enum": list(ISLAND_STATES)}
    return {
        "Error": {"type": "object", "required": ["error", "message"], "properties": {
            "error": {"type": "string", "description": "the error's class name, e.g. InvalidInput"},
            "message": {"type": "string", "description": "what went wrong and what to do"},
            "island_id": {"type": "integer"}}},
        "Registration": {"type": "object", "required": ["registered"], "properties": {
            "registered": {"type": "boolean"}, "node_ip": _nullable(text),
            "ports": {"type": "array", "items": {"type": "integer"}},
            "registered_at": time, "updated_at": time}},
        "Island": {"type": "object", "required": ["id", "owner", "owner_id", "branch", "state", "ports", "can_change"],
                   "properties": {
            "id": {"type": "integer"}, "generation": {"type": "integer"},
            "name": {"type": "string", "description": "the pod's name"},
            "owner": {"type": "string", "description": "the owner's display name (several people may share one)"},
            "owner_id": {"type": "string", "description": "the owner's user id: what decides who may change "
                         "the island (can_change)"},
            "branch": text, "state": state,
            "reason": text, "message": text, "node": _nullable(text), "host_ip": _nullable(text),
            "ports": {"type": "array", "items": {"type": "integer"}},
            "address": _nullable({"type": "string", "description": "host_ip:first port"}),
            "clock": {"type": "object", "properties": {
                "setting": _nullable(text), "offset_seconds": {"type": "number"},
                "badge": {"type": "string", "description": "'', 'frozen' or 'x10' (GET .../clock has the state)"}}},
            "created_at": time, "state_since": time, "ready_at": time, "updated_at": time,
            "registration": _ref("Registration"),
            "launch": {"type": "object", "properties": {
                "start_time": _nullable(text), "memory": _nullable(text), "image": _nullable(text),
                "env_names": {"type": "array", "items": text}}},
            "can_change": {"type": "boolean", "description": "the caller may delete, restart, set the clock and "
                           "read the logs: the caller's user id is owner_id, or the caller is an admin"},
            "idle": _ref("IdleStatus"),
            "code_version": _ref("CodeVersion"),
            "lease": _ref("Lease")}},
        "IslandList": {"type": "object", "required": ["islands", "last_event_id"], "properties": {
            "islands": {"type": "array", "items": _ref("Island")},
            "last_event_id": {"type": "integer", "description": "resume GET /api/events?after= from here"},
            "total": {"type": "integer", "description": "islands matching the filters, on every page"},
            "limit": _nullable({"type": "integer"}), "offset": {"type": "integer"},
            "next_offset": _nullable({"type": "integer", "description": "the next page's offset; null on the last"}),
            "user": text, "user_id": text}},
        "Event": {"type": "object", "required": ["id", "island_id", "to_state"], "properties": {
            "id": {"type": "integer"}, "island_id": {"type": "integer"}, "generation": {"type": "integer"},
            "at": time, "from_state": _nullable(text), "to_state": text, "reason": text,
            "message": _nullable(text)}},
        "EventList": {"type": "object", "required": ["island_id", "events"], "properties": {
            "island_id": {"type": "integer"}, "events": {"type": "array", "items": _ref("Event")}}},
        "Logs": {"type": "object", "required": ["island_id", "logs", "truncated", "limit_bytes"], "properties": {
            "island_id": {"type": "integer"}, "container": {"type": "string", "enum": list(CONTAINERS)},
            "tail": {"type": "integer"}, "logs": text,
            "truncated": {"type": "boolean", "description": "the log had more than limit_bytes in the asked "
                          "lines: logs is their start, ending at a whole line"},
            "limit_bytes": {"type": "integer", "description": "islands.log_limit_bytes"},
            "note": {"type": "string", "description": "what to tell the reader when truncated, else empty"}}},
        "Me": {"type": "object", "required": ["user", "user_id", "admin"], "properties": {
            "user": {"type": "string", "description": "display name"},
            "user_id": {"type": "string", "description": "the stable id ownership and web.admins go by"},
            "admin": {"type": "boolean"}, "via": text, "csrf_token": text}},
        "LaunchRequest": {"type": "object", "additionalProperties": False, "properties": {
            "branch": _nullable({"type": "string", "enum": list(settings.islands.branches)}),
            "start_time": _nullable({"type": "string", "maxLength": 64, "pattern": START_TIME,
                                     "description": "YYYY-MM-DD HH:MM:SS (UTC), empty = real time",
                                     "example": "2021-09-18 23:30:07"}),
            "memory": _nullable({"type": "string", "maxLength": 32, "pattern": MEMORY,
                                 "description": "memory request, 64Mi .. 64Gi, e.g. 1500Mi"}),
            "image": _nullable({"type": "string", "maxLength": 255, "description": "image reference repo/name:tag, one of islands.images (or islands.admin_images for admins); another answers 400"}),
            "env": _nullable({"type": "object", "maxProperties": 32, "propertyNames": {"pattern": ENV_NAME},
                              "additionalProperties": {"type": "string", "maxLength": 4096},
                              "description": "extra environment NAME: value (names island_ssh sets are refused)"}),
            "owner": _nullable({"type": "string", "maxLength": 64,
                                "description": "display name; someone else's: admins only; default the caller"}),
            "lease": lease_property(),
            "owner_id": _nullable({"type": "string", "maxLength": 128,
                                   "description": "admins only: the owner's user id; default the caller's id, "
                                                  "or the owner name when an admin names someone else"})}},
        "RegistrationRequest": {"type": "object", "required": ["node_ip", "ports", "pod_name"], "properties": {
            "node_ip": text, "ports": {"type": "string", "description": "'30807 30808 30809' or comma separated"},
            "pod_name": text, "code_version": registration_field()}},
        "StreamMessage": {"type": "object", "required": ["event", "data"], "description":
                          "one server-sent message; `transition` data is JSON {event: Event, island: Island, current}",
                          "properties": {
            "event": {"type": "string", "enum": ["hello", "transition", "resync"]},
            "data": {"type": "string"}, "id": {"type": "string"}, "retry": {"type": "integer"}}},
        "Registered": {"type": "object", "required": ["island_id", "registered"], "properties": {
            "island_id": {"type": "integer"}, "registered": {"type": "boolean"}, "node_ip": text}},
        "Vocabulary": {"type": "object", "required": ["states", "groups", "containers"], "properties": {
            "states": {"type": "array", "items": state, "description": "every island state, in life order"},
            "groups": {"type": "object", "required": list(STATE_GROUPS), "additionalProperties": False,
                       "properties": {name: {"type": "array", "items": state} for name in STATE_GROUPS},
                       "description": "named sets of states: progress (a good launch's steps, in order), failed, "
                                      "gone, changeable (the server runs), final, waiting (on the way to ready)"},
            "containers": {"type": "array", "items": {"type": "string", "enum": list(CONTAINERS)}}}},
    }


def build_spec(settings, server_url: str = "") -> dict:
    island_id = {"name": "island_id", "in": "path", "required": True,
                 "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}}
    user_auth = [{"bearerToken": []}, {"sessionCookie": []}]
    ok = lambda description, schema: {"description": description, **_json(schema)}  # noqa: E731
    paths = {
        "/api/me": {"get": {"summary": "Who am I", "operationId": "me", "security": user_auth,
                            "responses": {"200": ok("the caller", _ref("Me")), **_errors("401")}}},
        "/api/islands": {
            "get": {"summary": "List islands", "operationId": "listIslands", "security": user_auth,
                    "parameters": [
                        {"name": "mine", "in": "query", "schema": {"type": "boolean"},
                         "description": "only the caller's islands (by user id, not by name)"},
                        {"name": "owner", "in": "query", "schema": {"type": "string", "maxLength": 128},
                         "description": "by display name (namesakes' islands too)"},
                        {"name": "owner_id", "in": "query", "schema": {"type": "string", "maxLength": 128},
                         "description": "by the owner's user id"},
                        {"name": "branch", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                        {"name": "state", "in": "query", "description": "one state, or several separated by commas; empty means any",
                         "schema": {"type": "string", "pattern": _STATE_LIST}},
                        {"name": "include_deleted", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                         "description": "islands per page (absent: every island); the islands page asks 100"},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0},
                         "description": "how many matching islands to skip (the next page: next_offset)"}],
                    "responses": {"200": ok("islands, oldest id first; a page of them with limit/offset, "
                                            "total counting every match", _ref("IslandList")),
                                  **_errors("400", "401", "503")}},
            "post": {"summary": "Launch an island for the caller", "operationId": "launchIsland",
                     "security": user_auth,
                     "requestBody": {"required": True, **_json(_ref("LaunchRequest"))},
                     "responses": {"201": ok("allocated; its pod is applied in the background, in one kubectl apply "
                                                     "with the launches that arrive together. Follow GET /api/events: an "
                                                     "apply the cluster refuses ends the island `deleted`, reason "
                                                     "ApplyFailed, with kubectl's words. The queue is durable: if this "
                                                     "web process dies before the apply, the next start or "
                                                     "`island-ssh recover` applies it (reason Reapplied)", _ref("Island")),
                                   **_errors("400", "401", "403", "409", "413", "415", "502", "503", "504")}}},
        "/api/islands/{island_id}": {
            "parameters": [island_id],
            "get": {"summary": "One island", "operationId": "getIsland", "security": user_auth,
                    "responses": {"200": ok("the island", _ref("Island")), **_errors("401", "404", "503")}},
            "delete": {"summary": "Delete an island (owner or admin)", "operationId": "deleteIsland",
                       "security": user_auth,
                       "responses": {"202": ok("deletion requested; the state follows", _ref("Island")),
                                     **_errors("401", "403", "404", "502", "503", "504")}}},
        "/api/islands/{island_id}/restart": {
            "parameters": [island_id],
            "post": {"summary": "Restart: same id and ports, a new pod (owner or admin)",
                     "operationId": "restartIsland", "security": user_auth,
                     "responses": {"202": ok("the new pod was applied", _ref("Island")),
                                   **_errors("400", "401", "403", "404", "502", "503", "504")}}},
        "/api/islands/{island_id}/logs": {
            "parameters": [island_id],
            "get": {"summary": "The last lines of a container's log", "operationId": "islandLogs",
                    "description": "The island's owner and admins only (403 for anyone else). At most "
                                   "islands.log_limit_bytes bytes (truncated says when cut). 503 with "
                                   "Retry-After when every SSH channel for users' reads is busy: try again.",
                    "security": user_auth, "parameters": [
                        {"name": "tail", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
                        {"name": "container", "in": "query", "schema": {"type": "string", "enum": list(CONTAINERS)}}],
                    "responses": {"200": ok("log text", _ref("Logs")),
                                  **_errors("400", "401", "403", "404", "502", "503", "504")}}},
        "/api/islands/{island_id}/events": {
            "parameters": [island_id],
            "get": {"summary": "The island's state history (current generation)", "operationId": "islandEvents",
                    "security": user_auth, "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": {"200": ok("oldest first", _ref("EventList")), **_errors("400", "401", "404", "503")}}},
        "/api/islands/{island_id}/register": {
            "parameters": [island_id],
            "post": {"summary": "The container registers itself (its own token only)", "operationId": "register",
                     "description": "Once per launch: ports, pod_name and node_ip must be the island's own (node_ip "
                                    "the host IP the tracker saw, once it saw one); a repeat with the same facts "
                                    "answers 200 again without a new event. A wrong token, a free or unknown id and "
                                    "another launch's token all answer the same 403 (no id probing); with the live "
                                    "token, 409 says why (island terminating, lost, failed; a fact differs; already "
                                    "registered other facts). Control characters are refused (400) in every field.",
                     "security": [{"islandToken": []}],
                     "requestBody": {"required": True, "content": {
                         "application/x-www-form-urlencoded": {"schema": _ref("RegistrationRequest")},
                         "application/json": {"schema": _ref("RegistrationRequest")}}},
                     "responses": {"200": ok("registered", _ref("Registered")),
                                   **_errors("400", "403", "409", "413", "503"),
                                   "403": {"description": "Refused, one answer for a wrong token, a free or unknown "
                                           "id and another launch's token", **_json(_ref("Error"))},
                                   "409": {"description": "The island's own token, but the island is going or gone, "
                                           "a fact differs from the island's, or it registered other facts already",
                                           **_json(_ref("Error"))}}}},
        "/api/events": {"get": {
            "summary": "Server-sent events: one `transition` message per stored state change",
            "description": "Each message's id is the event id; data is {event, island, current}. The stream "
                           "ends after about a minute and the browser resumes with Last-Event-ID. One user holds "
                           "at most web.streams_per_user streams and the server about web.threads / 2; beyond "
                           "either, 503 with Retry-After (the page polls instead). HEAD is refused (405).",
            "operationId": "eventStream", "security": user_auth,
            "parameters": [{"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0},
                            "description": "replay stored events after this id first"}],
            "responses": {"200": {"description": "text/event-stream",
                                  "content": {"text/event-stream": {"schema": _ref("StreamMessage")}}},
                          **_errors("400", "401", "503")}}},
        "/api/vocabulary": {"get": {"summary": "The island states, their groups and the containers",
                                    "description": "What the pages' script reads instead of keeping a copy; the "
                                                   "same JSON is embedded in every page.",
                                    "operationId": "vocabulary", "security": [],
                                    "responses": {"200": ok("the vocabulary", _ref("Vocabulary"))}}},
        "/api/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "security": [],
                                      "responses": {"200": ok("OpenAPI 3.1", {"type": "object"})}}},
    }
    paths.update(clock_paths(island_id, user_auth, ok, _errors))
    paths.update(idle_paths(user_auth, ok, _errors))
    paths.update(lease_paths(island_id, user_auth, ok, _errors))
    paths.update(notify_paths(user_auth, ok, _errors))
    paths.update(versions_paths(user_auth, ok, _errors))
    paths.update(audit_paths(island_id, user_auth, ok, _errors))
    paths.update(remains_paths(island_id, user_auth, ok, _errors))
    paths.update(usage_paths(island_id, user_auth, ok, _errors))
    paths.update(metrics_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "island_ssh", "version": "1",
                 "description": "Launch, watch and manage game-server islands (Kubernetes pods) for testers."},
        "servers": [{"url": server_url or "/"}],
        "paths": paths,
        "components": {
            "schemas": {**schemas(settings), **clock_schemas(), **idle_schemas(), **notify_schemas(), **lease_schemas(), **versions_schemas(),
                        **audit_schemas(), **usage_schemas()},
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "a token from web.users (at least 32 characters); after "
                                               "web.login_failures unknown tokens or failed logins from one "
                                               "address, every request from it is 429 with Retry-After"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "island_ssh_session",
                                  "description": "the page's login; changes also need the X-CSRF-Token header"},
                "islandToken": {"type": "http", "scheme": "bearer", "description": "the island's own token"},
                **METRICS_SECURITY,
            },
        },
    }
