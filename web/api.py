"""JSON API blueprint. Views are thin: parse the request, call the service, shape the answer."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from island_ssh.errors import (InvalidInput, IslandError, IslandNotFound, KubectlError, PermissionDenied,
                               SSHError, StoreError, AllocationError)

api = Blueprint("island_api", __name__)

STATUS_OF = [
    (PermissionDenied, 403),
    (IslandNotFound, 404),
    (InvalidInput, 400),
    (AllocationError, 409),
    (KubectlError, 502),
    (SSHError, 503),
    (StoreError, 503),
    (IslandError, 500),
]


def service():
    return current_app.extensions["island_ssh.service"]


def error_response(exc: IslandError):
    status = next(code for cls, code in STATUS_OF if isinstance(exc, cls))
    body = {"error": type(exc).__name__, "message": exc.message}
    if exc.island_id is not None:
        body["island_id"] = exc.island_id
    return jsonify(body), status


@api.errorhandler(IslandError)
def _island_error(exc):
    return error_response(exc)


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return ""


@api.post("/api/islands/<int:island_id>/register")
def register(island_id: int):
    """The container's call (entry.sh): token only, no user session."""
    data = request.get_json(silent=True) if request.is_json else request.form
    data = data or {}
    fields = {}
    for name in ("node_ip", "ports", "pod_name"):
        value = data.get(name, "")
        if not isinstance(value, str) or len(value) > 255:
            raise InvalidInput(f"{name} must be text of at most 255 characters", island_id=island_id)
        fields[name] = value
    result = service().register(island_id, bearer_token(), **fields)
    return jsonify({"island_id": island_id, "registered": True,
                    "node_ip": getattr(result, "node_ip", fields["node_ip"])})
