"""The clock API's part of the OpenAPI description (web/api_clock.py; openapi.py merges it in)."""

from __future__ import annotations


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


CLOCK_TEXT = ("'2021-09-18 04:59:50' (the island reads that now, in clock.timezone), a shift '+1h' / '-30m' / "
              "'+2d', 'reset', 'freeze', 'resume', 'speed x10', 'preset daily-reset'")


def clock_schemas() -> dict:
    text, number = {"type": "string"}, {"type": "number"}
    state = _nullable({"type": "object", "required": ["island_epoch", "real_epoch", "rate", "frozen"], "properties": {
        "island_epoch": number, "real_epoch": number, "rate": number, "frozen": {"type": "boolean"}},
        "description": "the island reads island_epoch at real_epoch, then runs at rate (frozen: stays)"})
    return {
        "ClockRequest": {
            "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
            "description": "exactly one of the four",
            "properties": {
                "clock": {"type": "string", "maxLength": 256, "description": CLOCK_TEXT},
                "preset": {"type": "string", "maxLength": 256, "description": "a name of clock.presets "
                           "(GET /api/clock/presets)"},
                "action": {"type": "string", "enum": ["freeze", "resume", "reset"]},
                "speed": {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 16}],
                          "description": "the speed factor, above 0 and at most 1000 (10 or 'x10'); 1 is "
                                         "real speed; it sticks until changed"}}},
        "ClockProof": _nullable({"type": "object", "required": ["asked_epoch", "read_epoch", "diff"], "properties": {
            "asked_epoch": number, "read_epoch": number, "diff": number, "read_real_at": number,
            "proved_at": _nullable(text), "age_seconds": _nullable(number)}}),
        "Clock": {"type": "object", "required": ["island_id", "setting", "offset_seconds", "rate", "frozen",
                                                 "badge", "proof_line", "timelines"], "properties": {
            "island_id": {"type": "integer"}, "generation": {"type": "integer"}, "state": state,
            "setting": {"type": "string", "description": "what was last asked; empty: never set (real time)"},
            "island_now": number, "island_time": text, "offset_seconds": number,
            "rate": number, "speed": number, "frozen": {"type": "boolean"},
            "badge": {"type": "string", "description": "'' , 'frozen' or 'x10': the table's compact column"},
            "timezone": text, "set_by": {"type": "object"}, "set_at": _nullable(text),
            "proof": _ref("ClockProof"),
            "proof_line": {"type": "string", "description": "reads 2021-09-19 04:59:51 (asked 04:59:50, 0.4 s "
                           "ago): the island's own reading after the last change"},
            "timelines": {"type": "array", "items": _ref("Timeline")},
            "can_change": {"type": "boolean"}}},
        "ClockChanged": {"type": "object", "required": ["id", "clock"], "description":
                         "the island (as GET /api/islands/{id}) with its clock as GET .../clock answers it",
                         "properties": {"id": {"type": "integer"}, "clock": _ref("Clock")}},
        "ClockHistory": {"type": "object", "required": ["island_id", "history"], "properties": {
            "island_id": {"type": "integer"},
            "history": {"type": "array", "items": {"type": "object"},
                        "description": "newest first: at, who, actor, source (user, preset, timeline, restart, "
                                       "recover, launch), text (what was asked), state, asked / read (the "
                                       "island's wall time), diff_seconds, ok, error"}}},
        "ClockPresets": {"type": "object", "required": ["presets"], "properties": {
            "presets": {"type": "array", "items": {"type": "object", "required": ["name", "spec"], "properties": {
                "name": text, "spec": text}}}}},
        "TimelineRequest": {"type": "object", "required": ["steps"], "additionalProperties": False, "properties": {
            "steps": {"type": "string", "maxLength": 4096, "example":
                      "at +0 set \"2021-09-18 04:59:50\"; at +2m preset weekly-reset"}}},
        "Timeline": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "integer"}, "island_id": {"type": "integer"},
            "state": {"type": "string", "enum": ["active", "done", "cancelled", "failed"]},
            "text": {"type": "string", "description": "the steps as given"}, "who": text,
            "steps": {"type": "array", "items": {"type": "object"}}, "next_step": {"type": "integer"},
            "done_steps": {"type": "integer"}, "next_at": _nullable(text), "created_at": _nullable(text),
            "last_error": _nullable(text)}},
        "TimelineList": {"type": "object", "required": ["island_id", "timelines"], "properties": {
            "island_id": {"type": "integer"}, "timelines": {"type": "array", "items": _ref("Timeline")}}},
    }


def clock_paths(island_id: dict, user_auth: list, ok, errors) -> dict:
    def json_body(name: str) -> dict:
        return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}

    timeline_id = {"name": "timeline_id", "in": "path", "required": True,
                   "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}
    changes = errors("400", "401", "403", "404", "413", "415", "502", "503", "504")
    return {
        "/api/islands/{island_id}/clock": {
            "parameters": [island_id],
            "get": {"summary": "The island's clock: its state, setting and the proof of what it reads",
                    "operationId": "getClock", "security": user_auth,
                    "responses": {"200": ok("the clock", _ref("Clock")), **errors("401", "404", "503")}},
            "post": {"summary": "Change the island's clock (owner or admin)", "operationId": "setClock",
                     "description": "Writes the clock and reads it back from a process under the server's "
                                    "preload; 502 ClockNotTaken when the island does not read what was asked "
                                    "within the cache duration + 1 s (the previous clock is written back).",
                     "security": user_auth, "requestBody": json_body("ClockRequest"),
                     "responses": {"200": ok("the clock was written and read back", _ref("ClockChanged")),
                                   **changes}}},
        "/api/islands/{island_id}/clock/history": {
            "parameters": [island_id],
            "get": {"summary": "The island's clock changes, newest first, with who made them",
                    "operationId": "clockHistory", "security": user_auth, "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": {"200": ok("newest first", _ref("ClockHistory")),
                                  **errors("400", "401", "404", "503")}}},
        "/api/clock/presets": {
            "get": {"summary": "The configured clock presets (clock.presets)", "operationId": "clockPresets",
                    "security": user_auth,
                    "responses": {"200": ok("name and expression", _ref("ClockPresets")), **errors("401")}}},
        "/api/islands/{island_id}/clock/timelines": {
            "parameters": [island_id],
            "get": {"summary": "The island's clock timelines", "operationId": "clockTimelines",
                    "security": user_auth,
                    "responses": {"200": ok("newest first", _ref("TimelineList")), **errors("401", "404", "503")}},
            "post": {"summary": "Start a timeline of clock steps (owner or admin)", "operationId": "startTimeline",
                     "description": "Steps separated by ';' or new lines: 'at +OFFSET COMMAND', OFFSET from now "
                                    "(+0, +90s, +2m, +1h), COMMAND any clock text (set \"...\", +1h, preset NAME, "
                                    "freeze, resume, speed x10, reset). The service applies each step at its "
                                    "time, even across restarts of the web process; cancel with DELETE.",
                     "security": user_auth, "requestBody": json_body("TimelineRequest"),
                     "responses": {"201": ok("stored; its first step may already be applied", _ref("Timeline")),
                                   **changes}}},
        "/api/islands/{island_id}/clock/timelines/{timeline_id}": {
            "parameters": [island_id, timeline_id],
            "delete": {"summary": "Cancel a timeline (owner or admin)", "operationId": "cancelTimeline",
                       "security": user_auth,
                       "responses": {"200": ok("cancelled (steps not yet applied never are)", _ref("Timeline")),
                                     **errors("400", "401", "403", "404", "503")}}},
    }
