"""The clock API (issue 13): an island's clock as state, its proof, presets, history, timelines.

Thin, as api.py: the JSON types are checked here, every value by the service (ClockService,
``service.clocks``). The same ownership rules as the rest of the API: the caller acts as their
User (``is_admin`` set for this app's web.admins, so an admin may change any island and the
clock history still names them, where api.acting_as would record "an operator"); reads need a
user, changes also the CSRF token when made with the page's cookie (Auth.require checks it).
"""

from __future__ import annotations

import time

from flask import jsonify

from island_ssh.core.clock_view import change_text, clock_json, history_json, presets_json, timeline_json
from island_ssh.core.errors import InvalidInput

from island_ssh_web.api import checked_id, int_arg, island_out, json_body
from island_ssh_web.context import ctx
from island_ssh_web.serialize import may_change

MAX_TIMELINE_ID = 2**63 - 1


def _clocks():
    return ctx().service.clocks


def clock_out(view, row, who) -> dict:
    body = clock_json(view, time.time(), row)
    body["can_change"] = may_change(row, who, ctx().auth.admins) and row.state != "deleted"
    return body


# -- views ---------------------------------------------------------------------------------------
def get_clock(island_id: int):
    c = ctx()
    who = c.auth.require()
    island_id = checked_id(island_id)
    row = c.service.get(island_id)  # 404 for an unknown id, before the clock is read
    view = _clocks().state(island_id)
    return jsonify(clock_out(view, row, who))


def change_clock(island_id: int):
    """{"clock": text} (as before), {"preset": name}, {"action": "freeze"|"resume"|"reset"} or
    {"speed": 10}: exactly one of them. Answers the island, its ``clock`` the full clock view, so
    a caller of the old endpoint still finds ``clock.setting``."""
    c = ctx()
    who = c.auth.require()
    island_id = checked_id(island_id)
    text = change_text(json_body())
    view = _clocks().change(island_id, text, user=who.user)
    row = c.service.get(island_id)
    body = island_out(row, who)
    body["clock"] = clock_out(view, row, who)
    return jsonify(body)


def clock_history(island_id: int):
    c = ctx()
    c.auth.require()
    island_id = checked_id(island_id)
    c.service.get(island_id)
    limit = int_arg("limit", 100, 1, 1000)
    return jsonify(history_json(island_id, _clocks().history(island_id, limit=limit)))


def clock_presets():
    ctx().auth.require()
    return jsonify(presets_json(_clocks().presets()))


def start_timeline(island_id: int):
    c = ctx()
    who = c.auth.require()
    island_id = checked_id(island_id)
    data = json_body()
    unknown = sorted(set(data) - {"steps"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0][:40]!r}; send {{\"steps\": \"at +0 preset daily-reset; "
                           "at +2m reset\"}")
    steps = data.get("steps")
    if not isinstance(steps, str):
        raise InvalidInput("steps: expected text like 'at +0 set \"2021-09-18 04:59:50\"; at +2m preset weekly-reset'")
    if len(steps) > 4096:
        raise InvalidInput(f"steps: {len(steps)} characters; at most 4096")
    timeline = _clocks().start_timeline(island_id, steps, user=who.user)
    return jsonify(timeline_json(timeline)), 201


def list_timelines(island_id: int):
    c = ctx()
    c.auth.require()
    island_id = checked_id(island_id)
    c.service.get(island_id)
    return jsonify({"island_id": island_id,
                    "timelines": [timeline_json(t) for t in _clocks().timelines(island_id)]})


def cancel_timeline(island_id: int, timeline_id: int):
    c = ctx()
    who = c.auth.require()
    island_id = checked_id(island_id)
    if timeline_id > MAX_TIMELINE_ID:
        raise InvalidInput(f"timeline_id: {timeline_id} is not a timeline of island {island_id}")
    timeline = _clocks().cancel_timeline(island_id, timeline_id, user=who.user)
    return jsonify(timeline_json(timeline))


ROUTES = [
    ("/api/islands/<int:island_id>/clock", "api_get_clock", get_clock, ["GET"]),
    ("/api/islands/<int:island_id>/clock", "api_clock", change_clock, ["POST"]),
    ("/api/islands/<int:island_id>/clock/history", "api_clock_history", clock_history, ["GET"]),
    ("/api/clock/presets", "api_clock_presets", clock_presets, ["GET"]),
    ("/api/islands/<int:island_id>/clock/timelines", "api_start_timeline", start_timeline, ["POST"]),
    ("/api/islands/<int:island_id>/clock/timelines", "api_timelines", list_timelines, ["GET"]),
    ("/api/islands/<int:island_id>/clock/timelines/<int:timeline_id>", "api_cancel_timeline", cancel_timeline,
     ["DELETE"]),
]
