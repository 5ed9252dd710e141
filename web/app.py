"""Standalone Flask app: ``create_app(config=None)``; ``island-ssh serve`` runs it under waitress.

Several worker processes are fine (gunicorn: see island_ssh_web.wsgi): each builds its own service
and tracker, only the holder of the database's tracker lock follows the watch, and every worker's
pages learn transitions from island_events (island_ssh.service.feed).
"""

from __future__ import annotations

import secrets

from flask import Flask, redirect, url_for

from island_ssh.core.errors import ConfigError

from island_ssh_web import browser_policy, errors
from island_ssh_web.auth import check_secret
from island_ssh_web.blueprint import create_blueprint

MAX_REQUEST_BYTES = 1024 * 1024
"""The default of web.max_body_bytes."""


def max_body_bytes(web) -> int:
    """web.max_body_bytes (a host's older WebSettings may lack it: then MAX_REQUEST_BYTES)."""
    value = getattr(web, "max_body_bytes", MAX_REQUEST_BYTES)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ConfigError(f"web.max_body_bytes: expected a whole number of bytes of at least 1024, got {value!r}")
    return value


def create_app(config=None, service=None, current_user=None, **blueprint_options) -> Flask:
    """config: a Settings (None loads conf/island.yaml and the environment). service: an
    IslandService (tests and the demo pass theirs; otherwise one is built from config, with its
    tracker). current_user: a hook returning the User (id, name), instead of the token login."""
    from island_ssh.config import load_settings

    settings = config if config is not None else load_settings()
    web = settings.web
    if web.secret_key:  # empty: a random key per start (sessions end with the process)
        check_secret(web.secret_key, "web.secret_key (ISLAND_SSH_WEB_SECRET_KEY)")
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.secret_key = web.secret_key or secrets.token_urlsafe(32)
    # one limit for both: waitress refuses a longer body before reading it (serving.py), Flask
    # answers 413 for one that arrives chunked or under another server
    app.config.update(MAX_CONTENT_LENGTH=max_body_bytes(web), SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_NAME="island_ssh_session")
    app.session_interface = browser_policy.SessionInterface(getattr(web, "secure_cookies", "auto"))
    if service is None:
        from island_ssh.service.wiring import build_service
        service = build_service(settings)
    app.extensions["island_ssh.service.islands"] = service
    app.extensions["island_ssh.settings"] = settings
    blueprint = create_blueprint(service, current_user, web_settings=settings.web, **blueprint_options)
    app.register_blueprint(blueprint)
    app.extensions["island_ssh.service.feed"] = blueprint.island_ctx.feed
    errors.install(app)  # for what no view of ours saw: unknown paths, wrong methods, oversize bodies
    app.after_request(browser_policy.apply)  # those answers, too, may not be framed

    @app.get("/favicon.ico")
    def _favicon():
        return redirect(url_for("island_ssh.static", filename="island.svg"))

    return app
