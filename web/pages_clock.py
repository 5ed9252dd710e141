"""The island page's clock forms: plain CSRF-checked form posts (the page's script sends the same
through the API), so presets, freeze / resume / speed / reset and timelines work without scripts.

Every post answers with a redirect back to the island page and a flashed line: "Done" or the
service's own sentence (what was refused and what is accepted).
"""

from __future__ import annotations

import time

from flask import flash, redirect, request, url_for

from island_ssh.core.clock_view import change_text, clock_json, history_json, presets_json, timeline_json
from island_ssh.core.errors import InvalidInput, IslandError

from island_ssh_web.context import ctx
from island_ssh_web.i18n import LANG_COOKIE, choose_language, translate

FORM_FIELDS = ("preset", "action", "speed", "clock")


def _back(island_id: int):
    return redirect(url_for(".island_page", island_id=island_id) + "#clock-panel")


def _done(island_id: int, act):
    c = ctx()
    who = c.auth.require()  # checks the form's CSRF field too
    try:
        act(c.service.clocks, who.user)  # is_admin for web.admins: the history names them
        lang = choose_language(request.args.get("lang"), request.cookies.get(LANG_COOKIE),
                               request.headers.get("Accept-Language"))
        flash(translate(lang, "action.done"), "ok")
    except IslandError as exc:
        flash(exc.message, "error")
    return _back(island_id)


def form_text(form) -> str:
    """The clock command a form asks for: a preset button, an action button, the speed box, or the
    set / shift / reset box of the older form (mode + absolute | shift)."""
    if form.get("mode") in ("absolute", "shift", "reset") and not any(form.get(k) for k in FORM_FIELDS):
        mode = form["mode"]
        return "reset" if mode == "reset" else form.get(mode, "").strip()
    data = {k: form.get(k) for k in FORM_FIELDS if form.get(k) not in (None, "")}
    if not data:
        raise InvalidInput("choose a preset, an action, a speed, or type a time, a shift like +1h, or reset")
    return change_text(data)


def form_clock(island_id: int):
    ctx().auth.require()  # the CSRF check comes before anything the form says
    try:
        text = form_text(request.form)
    except IslandError as exc:
        flash(exc.message, "error")
        return _back(island_id)
    return _done(island_id, lambda clocks, user: clocks.change(island_id, text, user=user))


def form_timeline(island_id: int):
    steps = request.form.get("steps", "")
    return _done(island_id, lambda clocks, user: clocks.start_timeline(island_id, steps, user=user))


def form_cancel_timeline(island_id: int, timeline_id: int):
    return _done(island_id, lambda clocks, user: clocks.cancel_timeline(island_id, timeline_id, user=user))


def page_clock(island_id: int) -> dict:
    """What the island page renders of the clock before any script runs: the clock and its proof
    line, the presets (one-click buttons), the timelines (each with its cancel form) and the last clock changes, so the panel
    works without scripts. Store reads only; a failure leaves that part empty (the script retries)."""
    clocks = ctx().service.clocks
    out = {"clock_presets": [], "clock_timelines": [], "clock_history": [], "clock_view": None}
    try:
        out["clock_view"] = clock_json(clocks.state(island_id), time.time())
        out["clock_presets"] = presets_json(clocks.presets())["presets"]
        out["clock_timelines"] = [timeline_json(t) for t in clocks.timelines(island_id) if t.get("state") == "active"]
        out["clock_history"] = history_json(island_id, clocks.history(island_id, limit=20))["history"]
    except IslandError:
        pass
    return out


ROUTES = [
    ("/islands/<int:island_id>/clock", "form_clock", form_clock, ["POST"]),
    ("/islands/<int:island_id>/clock/timelines", "form_clock_timeline", form_timeline, ["POST"]),
    ("/islands/<int:island_id>/clock/timelines/<int:timeline_id>/cancel", "form_clock_cancel",
     form_cancel_timeline, ["POST"]),
]
