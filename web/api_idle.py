"""Idle islands on the web (issue 14).

    GET /api/idle            -> the idle islands: {"enabled", "idle_after", "expire", ..., "islands": [...]}
    GET /api/idle?all=true   -> every ready island with its idleness (idle or not)

Each island's own idleness is also in GET /api/islands/<id> (``idle``, serialize.py). The check
itself runs in the service (service/idle.py), never on a request: there is no POST here, because
a probe costs the master a kubectl exec per island and runs once per islands.idle_check_interval
(the operator forces one with `island-ssh idle --check`).
"""

from __future__ import annotations

from flask import jsonify

from island_ssh_web.api import bool_arg
from island_ssh_web.context import ctx


def list_idle():
    c = ctx()
    c.auth.require()
    return jsonify(c.service.idle.listing(all_ready=bool_arg("all")))


ROUTES = [
    ("/api/idle", "api_idle", list_idle, ["GET"]),
]
