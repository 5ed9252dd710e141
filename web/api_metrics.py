"""Prometheus metrics (issue 15): ``GET /metrics`` in the Prometheus text format.

Served by the blueprint, so the standalone app has it at ``/metrics`` and a host app under its
prefix (``/islands/metrics``). Access: open when ``web.metrics_token`` is empty (what it shows is
counts, durations, node names and branch names: no owner, token or island address), else only with
``Authorization: Bearer <web.metrics_token>`` (Prometheus: ``authorization: {credentials: ...}``);
a missing or wrong token is a 401. The scrape itself: island_ssh.service.metrics.scrape.

Also here: ``counted_registration``, the wrapper that counts the containers' registration calls
by result (island_ssh_registrations_total), applied to api.register in the blueprint.
"""

from __future__ import annotations

import functools
import hmac

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from island_ssh.core.errors import InvalidInput, IslandNotFound, PermissionDenied
from island_ssh.service import metrics as service_metrics

from island_ssh_web.auth import Unauthorized, bearer_token, check_secret
from island_ssh_web.context import ctx


UNAUTHORIZED = "/metrics needs Authorization: Bearer <web.metrics_token> (the token set for Prometheus)"


def check_settings(web) -> str:
    """web.metrics_token ("" when unset); ConfigError at start when it is short (the app's secret rule)."""
    token = getattr(web, "metrics_token", "") or ""
    if token:
        check_secret(token, "web.metrics_token (ISLAND_SSH_WEB_METRICS_TOKEN)")
    return token


def metrics_view():
    c = ctx()
    token = getattr(current_app.blueprints.get(request.blueprint), "island_metrics_token", "")
    if token and not hmac.compare_digest(bearer_token().encode("utf-8"), token.encode("utf-8")):
        # one plain line, whatever the client accepts: Prometheus shows it as the target's error
        return Response(UNAUTHORIZED + "\n", status=401, content_type="text/plain; charset=utf-8",
                        headers={"WWW-Authenticate": 'Bearer realm="island_ssh metrics"', "Cache-Control": "no-store"})
    body, content_type = service_metrics.scrape(c.service)
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def registration_result(exc: BaseException) -> str:
    """refused: the token or the island said no (401/403/404/409: wrong token, ended island, other
    facts); invalid: a malformed call (other 4xx); error: anything else (the database down)."""
    if isinstance(exc, (PermissionDenied, IslandNotFound, Unauthorized)):
        return "refused"
    if isinstance(exc, InvalidInput):
        return "invalid"
    status = exc.code if isinstance(exc, HTTPException) else getattr(exc, "http_status", None)
    if status in (401, 403, 404, 409):
        return "refused"
    return "invalid" if isinstance(status, int) and 400 <= status < 500 else "error"


def counted_registration(view):
    """``view`` (api.register), counting each call by its result."""
    @functools.wraps(view)
    def counted(*args, **kwargs):
        try:
            answer = view(*args, **kwargs)
        except BaseException as exc:
            service_metrics.count_registration(registration_result(exc))
            raise
        service_metrics.count_registration("ok")
        return answer

    return counted


ROUTES = [
    ("/metrics", "metrics", metrics_view, ["GET"]),
]
