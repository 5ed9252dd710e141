"""Webhook notifications on the web (issue 14): what was sent, what failed. Admins only: the
list names every island's owner and the endpoints (URLs shown without their query, where chat
services keep the webhook's key).

    GET /api/notifications                  -> {"enabled", "webhooks": [...], "recent": [...], "failures": [...]}
    GET /api/notifications?state=failed&webhook=team-wecom&limit=20

Sending a test is the operator's `island-ssh notify test`: a POST here would let a web request
make the server call out, so there is none.
"""

from __future__ import annotations

from flask import jsonify

from island_ssh.core.errors import InvalidInput, PermissionDenied

from island_ssh_web.api import int_arg, text_arg
from island_ssh_web.context import ctx

STATES = ("pending", "delivered", "failed")


def list_notifications():
    c = ctx()
    who = c.auth.require()
    if not who.admin:
        raise PermissionDenied("only admins may read the notification log (it names every island's owner)")
    notifier = c.service.notify
    state = text_arg("state", 16)
    if state is not None and state not in STATES:
        raise InvalidInput(f"state: one of {', '.join(STATES)}")
    webhook = text_arg("webhook", 64)
    if webhook is not None and webhook not in notifier.hooks:
        known = ", ".join(notifier.hooks) or "none configured"
        raise InvalidInput(f"webhook: one of the configured webhooks ({known})")
    return jsonify(notifier.overview(limit=int_arg("limit", 50, 1, 500), state=state, webhook=webhook))


ROUTES = [
    ("/api/notifications", "api_notifications", list_notifications, ["GET"]),
]
