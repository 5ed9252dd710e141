"""``create_blueprint(service, current_user=...)``: pages, API and static files in one Blueprint.

The table-import app mounts it under a prefix:

    from island_ssh.core.identity import User
    app.register_blueprint(create_blueprint(service, current_user=lambda: User(g.user.id, g.user.name)),
                           url_prefix="/islands")

``current_user`` returns a ``User(id, name, is_admin=False)`` (or an ``(id, name)`` pair, or an object
with ``.id`` and ``.name``), or None when nobody is logged in. The id decides whose islands are whose
and who is an admin (``web.admins`` lists ids); the name is only shown. A hook returning a plain
name still works, as both id and name, with a DeprecationWarning: namesakes then share islands.

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
from island_ssh_web import api_clock, pages_clock
from island_ssh_web import api_leases
from island_ssh_web import api_idle
from island_ssh_web import api_notify
from island_ssh_web import api_versions
from island_ssh_web import api_audit
from island_ssh_web import api_metrics
from island_ssh_web import api_usage
from island_ssh_web import api_remains
from island_ssh_web.auth import Auth
from island_ssh_web.context import WebContext
from island_ssh_web.ratelimit import FailureLimiter
from island_ssh_web.sse import StreamSlots


def create_blueprint(service, current_user: Callable[[], object] | None = None, *, name: str = "island_ssh",
                     feed: EventFeed | None = None, max_streams: int | None = None, heartbeat: float = 15.0,
                     stream_seconds: float = 55.0, web_settings=None) -> Blueprint:
    """service: an IslandService. current_user: returns the logged-in User (or None); see the module
    docstring. current_user None means standalone, where users log in with a token from WebSettings.users.
    max_streams: live-update streams this process serves at once (default web.max_streams);
    beyond that, pages poll. web_settings: users/admins/threads (default the service's settings.web)."""
    web = web_settings if web_settings is not None else service.settings.web
    bp = Blueprint(name, __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static/island_ssh")
    limiter = FailureLimiter(getattr(web, "login_failures", 5), getattr(web, "login_window", 60.0))
    auth = Auth(web.users, web.admins, current_user, limiter=limiter)
    if max_streams is None:  # web.max_streams; a host's own settings may predate it: half its threads
        max_streams = getattr(web, "max_streams", None)
    limit = max_streams if max_streams is not None else max(1, int(web.threads) // 2)
    slots = StreamSlots(limit, getattr(web, "streams_per_user", None))  # a host's own settings may predate it
    feed = feed or EventFeed(service.store, poll_interval=getattr(web, "feed_poll_interval", 0.05))
    if feed.prepare is None:  # each transition serialised once, by the poller, for every open page
        feed.prepare = api.prerender_transitions
    bp.island_ctx = WebContext(service=service, auth=auth, feed=feed,
                               slots=slots, heartbeat=heartbeat, stream_seconds=stream_seconds)
    routes = api.ROUTES + api_clock.ROUTES + pages.routes(standalone=auth.standalone) + pages_clock.ROUTES
    routes = routes + api_leases.ROUTES
    routes = routes + api_idle.ROUTES
    routes = routes + api_notify.ROUTES
    routes = routes + api_versions.ROUTES  # GET /api/branches (code versions)
    routes = routes + api_audit.ROUTES
    routes = routes + api_metrics.ROUTES  # GET /metrics (Prometheus)
    routes = routes + api_usage.ROUTES  # GET /api/usage, /api/islands/<id>/usage
    routes = routes + api_remains.ROUTES  # GET /api/islands/<id>/remains (crash forensics, tar.gz)
    bp.island_metrics_token = api_metrics.check_settings(web)  # web.metrics_token; empty: open
    for rule, endpoint, view, methods in routes:
        bp.add_url_rule(rule, endpoint, view, methods=methods)
    errors.install(bp)
    bp.after_request(pages.security_headers)
    bp.context_processor(pages.template_globals)
    bp.context_processor(api_audit.template_globals)  # quota line, audit trail
    bp.context_processor(api_remains.template_globals)  # the "Download remains" link

    @bp.record_once
    def _check_host(state) -> None:
        if not state.app.secret_key and not state.app.config.get("SECRET_KEY"):
            raise ConfigError("the Flask app mounting island_ssh needs a secret_key: the pages keep their CSRF "
                              "token (and, standalone, the login) in the signed session")

    return bp
