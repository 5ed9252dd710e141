"""``create_blueprint(service, current_user=...)``: pages, API and static files in one Blueprint.

The table-import app mounts it under a prefix:

    app.register_blueprint(create_blueprint(service, current_user=lambda: g.user.name),
                           url_prefix="/islands")

Every URL inside is built with ``url_for`` (pages) or from the page's own data attributes
(scripts), so any prefix works. Templates and static files carry an ``island`` prefix in their
names, so they do not collide with the host app's.
"""

from __future__ import annotations

from typing import Callable

from flask import Blueprint

from island_ssh.core.errors import ConfigError
from island_ssh.service.feed import EventFeed

from island_ssh_web import api, errors, pages
from island_ssh_web.auth import Auth
from island_ssh_web.context import WebContext
from island_ssh_web.sse import StreamSlots


def create_blueprint(service, current_user: Callable[[], object] | None = None, *, name: str = "island_ssh",
                     feed: EventFeed | None = None, max_streams: int | None = None, heartbeat: float = 15.0,
                     stream_seconds: float = 55.0, web_settings=None) -> Blueprint:
    """service: an IslandService. current_user: returns the logged-in user's name (or None); None
    means standalone, where users log in with a token from WebSettings.users.
    max_streams: live-update streams this process serves at once (default half of web.threads);
    beyond that, pages poll. web_settings: users/admins/threads (default the service's settings.web)."""
    web = web_settings if web_settings is not None else service.settings.web
    bp = Blueprint(name, __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static/island_ssh")
    auth = Auth(web.users, web.admins, current_user)
    limit = max_streams if max_streams is not None else max(1, int(web.threads) // 2)
    bp.island_ctx = WebContext(service=service, auth=auth, feed=feed or EventFeed(service.store),
                               slots=StreamSlots(limit), heartbeat=heartbeat, stream_seconds=stream_seconds)
    for rule, endpoint, view, methods in api.ROUTES + pages.routes(standalone=auth.standalone):
        bp.add_url_rule(rule, endpoint, view, methods=methods)
    errors.install(bp)
    bp.after_request(pages.security_headers)
    bp.context_processor(pages.template_globals)

    @bp.record_once
    def _check_host(state) -> None:
        if not state.app.secret_key and not state.app.config.get("SECRET_KEY"):
            raise ConfigError("the Flask app mounting island_ssh needs a secret_key: the pages keep their CSRF "
                              "token (and, standalone, the login) in the signed session")

    return bp
