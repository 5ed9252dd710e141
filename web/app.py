"""Standalone Flask app: ``create_app(config=None)``; ``island-ssh serve`` runs it under waitress.

Several worker processes are fine (gunicorn: see island_ssh_web.wsgi): each builds its own service
and tracker, only the holder of the database's tracker lock follows the watch, and every worker's
pages learn transitions from island_events (island_ssh.service.feed).
"""

from __future__ import annotations

import secrets

from flask import Flask, redirect, url_for

from island_ssh_web import errors
from island_ssh_web.blueprint import create_blueprint

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(config=None, service=None, current_user=None, **blueprint_options) -> Flask:
    """config: a Settings (None loads conf/island.yaml and the environment). service: an
    IslandService (tests and the demo pass theirs; otherwise one is built from config, with its
    tracker). current_user: a hook returning the user's name, instead of the token login."""
    from island_ssh.config import load_settings

    settings = config if config is not None else load_settings()
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.secret_key = settings.web.secret_key or secrets.token_hex(32)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_NAME="island_ssh_session")
    if service is None:
        from island_ssh.service.wiring import build_service
        service = build_service(settings)
    app.extensions["island_ssh.service.islands"] = service
    app.extensions["island_ssh.settings"] = settings
    blueprint = create_blueprint(service, current_user, web_settings=settings.web, **blueprint_options)
    app.register_blueprint(blueprint)
    app.extensions["island_ssh.service.feed"] = blueprint.island_ctx.feed
    errors.install(app)  # for what no view of ours saw: unknown paths, wrong methods, oversize bodies

    @app.get("/favicon.ico")
    def _favicon():
        return redirect(url_for("island_ssh.static", filename="island.svg"))

    return app
