"""Code versions on the web (issue 15).

    GET /api/branches                -> each branch's current code version (per node) and every live
                                        island's version with its verdict ({"branches", "islands", "outdated"})
    GET /api/branches?refresh=true   -> read the branches' version files now (one remote command) first
    GET /api/branches?ids=3,5,12     -> the same with only those islands in "islands" (and "outdated");
                                        "branches" stays whole (the islands page asks for its rows)

Each island's own ``code_version`` object is also in GET /api/islands/<id> and the list
(api.island_out). Without ``refresh`` nothing here waits on kubectl: the stored readings are answered
and, when older than islands.code_version_check_interval, a read starts in the background
(service/code_versions.py).
"""

from __future__ import annotations

from flask import jsonify

from island_ssh_web.api import bool_arg
from island_ssh_web.api_usage import ids_arg
from island_ssh_web.context import ctx


def branches():
    c = ctx()
    c.auth.require()
    ids = ids_arg()  # a bad list is refused before any read starts
    return jsonify(c.service.code_versions.report(refresh="force" if bool_arg("refresh") else "background", ids=ids))


ROUTES = [
    ("/api/branches", "api_branches", branches, ["GET"]),
]
