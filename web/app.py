"""Standalone Flask app: ``create_app(config=None)``."""

from __future__ import annotations

from flask import Flask, jsonify

from .api import api


def create_app(config=None, service=None) -> Flask:
    """config: a Settings (or None to load conf/island.yaml); service: an IslandService to use
    (tests and the demo pass their own; otherwise one is built from config)."""
    from island_ssh.config import load_settings

    settings = config if config is not None else load_settings()
    app = Flask(__name__)
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False
    if service is None:
        from island_ssh.runtime import build_service
        service = build_service(settings)
    app.extensions["island_ssh.service"] = service
    app.extensions["island_ssh.settings"] = settings
    app.register_blueprint(api)

    @app.errorhandler(404)
    def _not_found(_):
        return jsonify({"error": "NotFound", "message": "no such page or API endpoint"}), 404

    @app.errorhandler(405)
    def _method(_):
        return jsonify({"error": "MethodNotAllowed", "message": "that method is not allowed here"}), 405

    @app.errorhandler(500)
    def _internal(_):
        return jsonify({"error": "InternalError", "message": "internal error; the server log has details"}), 500

    return app
