"""Crash forensics on the web (issue 15): an island's remains as a tar.gz download, streamed.

    GET /api/islands/<id>/remains   -> application/gzip, Content-Disposition: attachment; filename=...

The owner's and admins' only (the service checks it: logs can hold secrets). The island page links
here ("Download remains") once the island's server ended, and always for admins; a browser's
session cookie is enough (a GET changes nothing). Everything that can refuse is asked before the
first byte (403, 410 once the pod is gone, 503 when every users' read channel is busy); the body
is the service's RemainsDownload, whose close() stops the container's tar when the browser leaves.
"""

from __future__ import annotations

from flask import Response

from island_ssh.core.remains import SERVER_ENDED_STATES

from island_ssh_web.api import acting_as, checked_id
from island_ssh_web.context import ctx


def download(island_id: int):
    c = ctx()
    who = c.auth.require()
    bundle = c.service.remains.open(checked_id(island_id), user=acting_as(who))
    return Response(bundle, mimetype="application/gzip", direct_passthrough=True, headers={
        "Content-Disposition": f'attachment; filename="{bundle.filename}"',
        "Cache-Control": "no-store", "X-Accel-Buffering": "no",
        "X-Remains-Max-Bytes": str(bundle.manifest.max_bytes)})


def template_globals() -> dict:
    """``island_remains(id)`` for island_detail.html: whether to show the link to this visitor."""
    def island_remains(island_id: int) -> dict:
        c = ctx()
        try:
            who = c.auth.identify()
        except Exception:  # noqa: BLE001  (no visitor: no link)
            who = None
        remains = getattr(c.service, "remains", None)
        if remains is None or who is None:
            return {"show": False, "may": False}
        row = c.service.get(island_id)
        may = bool(who.admin or (row.owner_id and row.owner_id == who.id))
        return {"show": remains.offer(row, acting_as(who)), "may": may, "ended": SERVER_ENDED_STATES}
    return {"island_remains": island_remains}


ROUTES = [
    ("/api/islands/<int:island_id>/remains", "api_remains", download, ["GET"]),
]
