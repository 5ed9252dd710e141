"""What the views of one mounted blueprint share: the service, who may log in, the live feed."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request

from island_ssh.service.feed import EventFeed

from island_ssh_web.auth import Auth
from island_ssh_web.sse import StreamSlots


@dataclass
class WebContext:
    service: object  # island_ssh.service.islands.IslandService
    auth: Auth
    feed: EventFeed
    slots: StreamSlots
    heartbeat: float = 15.0
    """Seconds between keepalive comments on an idle event stream."""
    stream_seconds: float = 55.0
    """Seconds an event stream stays open before the browser reconnects (and resumes)."""

    @property
    def settings(self):
        return self.service.settings


def ctx() -> WebContext:
    """The context of the blueprint serving this request (a host app may mount several)."""
    blueprint = current_app.blueprints[request.blueprint]
    return blueprint.island_ctx
