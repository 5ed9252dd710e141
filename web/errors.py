"""Every error becomes a status code and a sentence: JSON for the API, a page for the browser.

Nothing here returns a stack trace or echoes a header: an unexpected exception is logged
server-side and answered with a generic 500.
"""

from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from island_ssh.core.errors import InvalidInput, IslandError

from island_ssh_web.auth import Unauthorized
from island_ssh_web.ratelimit import RateLimited

log = logging.getLogger(__name__)


class UnsupportedMediaType(InvalidInput):
    """The API takes JSON bodies."""

    cli_exit = 2  # a refused request, like any refused value
    http_status = 415


class TooManyStreams(IslandError):
    """Every live-update slot of this worker is taken; the page falls back to polling."""

    cli_exit = 1  # a web worker's limit: no command line path raises it
    http_status = 503


ERROR_NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 413: "RequestTooLarge", 415: "UnsupportedMediaType"}

HTTP_MESSAGES = {
    400: "the request could not be understood (malformed JSON or form data)",
    404: "no such page or API endpoint",
    405: "that method is not allowed here",
    413: "the request body is too large",
    415: "send the body as JSON (Content-Type: application/json)",
}


def status_of(exc: IslandError) -> int:
    """The error's HTTP status: each class of the family carries it (``http_status``)."""
    return type(exc).http_status


def wants_json() -> bool:
    """API paths answer JSON; pages answer HTML (unless the client asks only for JSON)."""
    path = request.path
    if request.blueprint is None:  # outside our pages (the templates need the blueprint's context)
        return True
    if "/api/" in path or path.endswith("/api"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _answer(status: int, name: str, message: str, island_id=None, headers=None):
    if wants_json():
        body = {"error": name, "message": message}
        if island_id is not None:
            body["island_id"] = island_id
        response = jsonify(body)
    else:
        response = render_template("island_error.html", status=status, error=name, message=message)
    return response, status, headers or {}


def island_error(exc: IslandError):
    status = status_of(exc)
    if status >= 500:
        log.warning("%s: %s", type(exc).__name__, exc.message)
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": 'Bearer realm="island_ssh"'}
    return _answer(status, type(exc).__name__, exc.message, exc.island_id, headers)


def http_error(exc: HTTPException):
    status = exc.code or 500
    name = ERROR_NAMES.get(status, type(exc).__name__)
    message = HTTP_MESSAGES.get(status, "the request was refused")
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return _answer(status, name, message, None, headers)


def unexpected_error(exc: Exception):
    if isinstance(exc, HTTPException):
        return http_error(exc)
    if isinstance(exc, IslandError):
        return island_error(exc)
    log.exception("unexpected error serving %s %s", request.method, request.path)
    return _answer(500, "InternalError", "internal error; the server log has the details")


def install(target) -> None:
    """Register the handlers on a Blueprint (its own views) or a Flask app (everything)."""
    target.register_error_handler(IslandError, island_error)
    target.register_error_handler(HTTPException, http_error)
    target.register_error_handler(Exception, unexpected_error)
