"""Leases on the web (issue 14): read and extend an island's lease; the page's extend button.

    GET  /api/islands/<id>/lease                    -> {"island_id", "lease": {...}, "policy": {...}}
    POST /api/islands/<id>/lease {"extend": "+4h"}  -> the island (its ``lease`` the new end)
    POST /islands/<id>/extend   (the page's form: extend=+4h, CSRF-checked)

``+4h`` adds to the current end, ``8h`` makes the island end 8 h from now; never further ahead
than islands.lease_max from now (the service refuses in words: 400). Thin, as api.py: the JSON
types are checked here, the value by the service (``service.leases``, core.lease).
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, request, url_for

from island_ssh.core.errors import InvalidInput, IslandError

from island_ssh_web.api import acting_as, checked_id, island_out, json_body
from island_ssh_web.context import ctx
from island_ssh_web.serialize import may_change

EXTEND_FIELDS = ("extend",)
MAX_TEXT = 64


def lease_body(row, who) -> dict:
    c = ctx()
    return {"island_id": row.island_id, "lease": c.service.leases.lease_json(row),
            "policy": c.service.leases.policy_json(),
            "can_extend": may_change(row, who, c.auth.admins) and row.state not in ("deleted", "terminating")}


def extend_text(data: dict) -> str:
    unknown = sorted(set(data) - set(EXTEND_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {str(unknown[0])[:40]!r}; allowed: {', '.join(EXTEND_FIELDS)}")
    text = data.get("extend")
    if not isinstance(text, str):
        raise InvalidInput("extend: expected text: +4h (added to the end) or 8h (ends 8 h from now)")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"extend: {len(text)} characters; a lease is short, e.g. +4h or 8h")
    return text


# -- views ---------------------------------------------------------------------------------------
def get_lease(island_id: int):
    c = ctx()
    who = c.auth.require()
    return jsonify(lease_body(c.service.get(checked_id(island_id)), who))


def extend_lease(island_id: int):
    c = ctx()
    who = c.auth.require()
    text = extend_text(json_body())
    row = c.service.leases.extend(checked_id(island_id), text, user=acting_as(who))
    return jsonify(island_out(row, who))


def form_extend(island_id: int):
    """The page's extend button (works without scripts); the refusal is flashed as the service words it."""
    c = ctx()
    who = c.auth.require()  # checks the CSRF field too
    text = request.form.get("extend", "")
    try:
        row = c.service.leases.extend(island_id, text[:MAX_TEXT + 1], user=acting_as(who))
        flash(f"lease: ends {row.lease_expires_at:%Y-%m-%d %H:%M} UTC "
              f"({c.service.leases.time_left(row)} left)", "ok")
    except IslandError as exc:
        flash(exc.message, "error")
    return redirect(url_for(".island_page", island_id=island_id))


ROUTES = [
    ("/api/islands/<int:island_id>/lease", "api_get_lease", get_lease, ["GET"]),
    ("/api/islands/<int:island_id>/lease", "api_extend_lease", extend_lease, ["POST"]),
    ("/islands/<int:island_id>/extend", "form_extend", form_extend, ["POST"]),
]
