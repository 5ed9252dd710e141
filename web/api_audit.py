"""The audit log and quotas on the web (issue 14).

    GET /api/audit?island=12&actor=u123&action=delete&since=2h&limit=50 -> {"entries": [...], "scope"}
    GET /api/islands/<id>/audit                    -> {"island_id", "entries", "who_deleted", "deleted_by"}
    GET /api/quota[?user=ID]                       -> the user's quota (an admin may name any user id)

Who reads what: an admin every entry (``scope: "all"``); any other user the entries about the
islands they owned and the ones they caused (``scope: "own"``), so "who deleted my island?" is
always answerable by its owner and nobody reads the trail of other people's islands. Unknown
query parameters are refused (400 naming them), so a typo does not silently widen a filter.

The page's parts: ``template_globals`` gives the templates ``island_quota_line()`` (the launch
form's "you use 2 of 3 islands (3Gi of 6Gi)") and ``island_audit_trail(id)`` (the detail page).
"""

from __future__ import annotations

from flask import jsonify, request

from island_ssh.core.errors import InvalidInput, IslandError, PermissionDenied
from island_ssh.core.identity import validate_user_id

from island_ssh_web.api import checked_id
from island_ssh_web.auth import Unauthorized
from island_ssh_web.context import ctx

AUDIT_PARAMS = ("island", "actor", "action", "since", "limit")
NUMBERS = ("island", "limit")


def _only(allowed) -> None:
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown parameter {unknown[0][:40]!r}; allowed: {', '.join(allowed) or 'none'}")
    empty = [name for name in NUMBERS if request.args.get(name) == ""]
    if empty:  # the spec says integer: `?limit=` is a mistake here, not "the default"
        raise InvalidInput(f"parameter {empty[0]!r} is empty; give a whole number or leave it out")


def audit():
    c = ctx()
    who = c.auth.require()
    _only(AUDIT_PARAMS)
    args = {name: request.args.get(name) for name in AUDIT_PARAMS}
    entries = c.service.audit.search(who.user, **args)
    return jsonify({"entries": entries, "scope": "all" if who.admin else "own"})


def island_audit(island_id: int):
    c = ctx()
    who = c.auth.require()
    _only(("limit",))
    island_id = checked_id(island_id)
    entries = c.service.audit.search(who.user, island=island_id, limit=request.args.get("limit"))
    entry, line = c.service.audit.who_deleted(island_id, who.user)
    return jsonify({"island_id": island_id, "entries": entries, "who_deleted": line,
                    "deleted_by": entry.as_dict() if entry is not None else None,
                    "scope": "all" if who.admin else "own"})


def quota():
    c = ctx()
    who = c.auth.require()
    _only(("user",))
    wanted = request.args.get("user")
    if wanted in (None, "", who.id):
        view = c.service.quotas.view_of(who.user)
    elif not who.admin:
        raise PermissionDenied("only admins may read someone else's quota; leave user empty for your own")
    else:
        view = c.service.quotas.view(validate_user_id(wanted, "user"))
    body = view.as_dict()
    body["text"] = view.line(you=view.owner_id == who.id)
    body["enabled"] = c.service.quotas.configured
    return jsonify(body)


# -- the pages' parts ----------------------------------------------------------------------------
def _page_who():
    try:
        return ctx().auth.identify()
    except Unauthorized:
        return None


def island_quota_line() -> str:
    """"you use 2 of 3 islands (3Gi of 6Gi)" for the launch form; "" without quotas or a user."""
    c = ctx()
    who = _page_who()
    if who is None or not c.service.quotas.configured:
        return ""
    try:
        return c.service.quotas.view_of(who.user).line(you=True)
    except IslandError:
        return ""  # the form still works; the launch itself decides


def island_audit_trail(island_id: int) -> dict:
    """The detail page's trail: entries (newest first, as the page's user may read them) and
    the who-deleted line; empty when the log cannot be read now."""
    c = ctx()
    who = _page_who()
    if who is None:
        return {"entries": [], "who_deleted": ""}
    try:
        entries = c.service.audit.search(who.user, island=island_id, limit=100)
        entry, line = c.service.audit.who_deleted(island_id, who.user)
    except IslandError:
        return {"entries": [], "who_deleted": ""}
    return {"entries": entries, "who_deleted": line if entry is not None else ""}


def template_globals() -> dict:
    return {"island_quota_line": island_quota_line, "island_audit_trail": island_audit_trail}


ROUTES = [
    ("/api/audit", "api_audit", audit, ["GET"]),
    ("/api/islands/<int:island_id>/audit", "api_island_audit", island_audit, ["GET"]),
    ("/api/quota", "api_quota", quota, ["GET"]),
]
