"""Per-island resource use on the web (issue 15).

    GET /api/islands/<id>/usage  -> one island's memory/cpu against its limit (web/openapi_usage.py)
    GET /api/usage               -> every island that is not deleted, from the same poll
    GET /api/usage?ids=3,5,12    -> only those islands (the islands page asks for the rows it shows)

Both read the service's shared poll (service/usage.py: ONE `kubectl get --raw` of metrics.k8s.io
for all islands per islands.usage_cache_seconds), so a page of 200 islands refreshing costs the
master one call per interval. Without metrics-server the answer is 200 with ``available: false``
and the reason, never an error. Readable by every signed-in user, as the island list is.
"""

from __future__ import annotations

from flask import jsonify, request

from island_ssh.service.usage import parse_island_ids

from island_ssh_web.api import checked_id
from island_ssh_web.context import ctx


def ids_arg() -> list[int] | None:
    """``?ids=3,5,12`` (repeating ``ids`` adds to the list); None when absent: every island.
    GET /api/branches reads it too. A bad list is one 400 line (service.usage.parse_island_ids)."""
    raw = request.args.getlist("ids")
    return parse_island_ids(raw) if raw else None


def island_usage(island_id: int):
    c = ctx()
    c.auth.require()
    return jsonify(c.service.usage.usage(checked_id(island_id)))


def all_usage():
    c = ctx()
    c.auth.require()
    return jsonify(c.service.usage.usage_all(ids=ids_arg()))


ROUTES = [
    ("/api/islands/<int:island_id>/usage", "api_island_usage", island_usage, ["GET"]),
    ("/api/usage", "api_usage", all_usage, ["GET"]),
]
