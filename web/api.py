"""JSON API views. Thin: check the request's shape, call the service, shape the answer.

The service validates every value (island_ssh.core.validate); here only the JSON types are checked, so
that a number where text belongs is a 400 naming the field rather than a silent coercion.
"""

from __future__ import annotations

from flask import Response, jsonify, request, url_for
from werkzeug.exceptions import MethodNotAllowed, RequestEntityTooLarge

from island_ssh.core.errors import InvalidInput, IslandNotFound, PermissionDenied
from island_ssh.core.names import CONTAINERS, ISLAND_STATES, MAX_ID
from island_ssh.service.islands import LaunchRequest
from island_ssh.service.listing import MAX_PAGE

from island_ssh_web import sse
from island_ssh_web.api_metrics import counted_registration
from island_ssh_web.auth import bearer_token
from island_ssh_web.context import ctx
from island_ssh_web.errors import TooManyStreams, UnsupportedMediaType
from island_ssh_web.openapi import build_spec
from island_ssh_web.serialize import event_json, feed_item_json, island_json, may_change, vocabulary_json

MAX_BODY = 256 * 1024
LAUNCH_FIELDS = ("owner", "owner_id", "branch", "start_time", "memory", "image", "env", "lease")


# -- request parsing ---------------------------------------------------------------------------
def json_body() -> dict:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RequestEntityTooLarge()
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object, e.g. {\"branch\": \"dev\"}")
    return data


def optional_text(data: dict, name: str, max_chars: int = 4096) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: expected text or null, got {type(value).__name__}")
    if len(value) > max_chars:
        raise InvalidInput(f"{name}: {len(value)} characters; at most {max_chars}")
    return value


def int_arg(name: str, default: int, low: int, high: int) -> int:
    # absent means the default; present but empty is refused, as the spec's integer type says
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not low <= int(raw) <= high:
        raise InvalidInput(f"{name}: expected a whole number from {low} to {high}, got {raw[:40]!r}")
    return int(raw)


def bool_arg(name: str) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return False
    raw = raw.strip().lower()
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise InvalidInput(f"{name}: expected true or false, got {raw[:40]!r}")


def text_arg(name: str, max_chars: int) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_chars:
        raise InvalidInput(f"{name}: {len(raw)} characters; at most {max_chars}")
    return raw


def checked_id(island_id: int) -> int:
    if island_id > MAX_ID:
        raise IslandNotFound(f"no island {island_id}")
    return island_id


def acting_as(who):
    """The user= the service checks ownership with: the visitor's User. An admin (per this app's
    WebSettings.admins, which may differ from the service's own settings when a host app builds
    the service) carries is_admin=True, which the service honours like its own web.admins, so
    the audit log still names the admin who acted (never "an operator"). The service compares
    a User's id (never the display name) with the island's owner_id."""
    return who.user


# -- shaping -------------------------------------------------------------------------------------
_READ = object()  # island_out: read the registration (one island); a listing passes what it read


def island_out(row, who, with_registration: bool = True, registration=_READ, branches=None) -> dict:
    c = ctx()
    if registration is _READ:
        registration = (c.service.store.registration(row.island_id)
                        if with_registration and row.state != "deleted" else None)
    body = island_json(row, registration, who, c.auth.admins)
    leases = getattr(c.service, "leases", None)
    if leases is not None:
        body["lease"] = leases.lease_json(row)  # with the time left (serialize has no clock)
    versions = getattr(c.service, "code_versions", None)
    if versions is not None:  # the code it mounted against its branch's now (service/code_versions.py)
        body["code_version"] = versions.island_json(row, branches)
    return body


# -- views -----------------------------------------------------------------------------------------
def me():
    who = ctx().auth.require()
    body = {"user": who.name, "user_id": who.id, "admin": who.admin, "via": who.via}
    if who.via != "token":
        body["csrf_token"] = ctx().auth.csrf_token()
    return jsonify(body)


def list_islands():
    c = ctx()
    who = c.auth.require()
    owner = text_arg("owner", 128)  # a display name: namesakes' islands too
    owner_id = text_arg("owner_id", 128)
    if bool_arg("mine"):
        owner, owner_id = None, who.id  # by id: a namesake's islands are not mine
    branch = text_arg("branch", 64)
    states = [s for raw in request.args.getlist("state") for s in raw.split(",") if s] or None
    for state in states or ():
        if state not in ISLAND_STATES:
            raise InvalidInput(f"state: {state[:40]!r} is not one of {', '.join(ISLAND_STATES)}")
    include_deleted = bool_arg("include_deleted")
    # a page (service/listing.py): three queries however many islands; no limit: every island
    limit = int_arg("limit", 0, 1, MAX_PAGE) or None
    offset = int_arg("offset", 0, 0, 10 ** 9)
    last_event_id = c.feed.latest_id()  # before the list: the stream resumes from here, missing nothing
    page = c.service.list_page(owner=owner, branch=branch, states=states, owner_id=owner_id,
                               include_deleted=include_deleted, limit=limit, offset=offset)
    versions = getattr(c.service, "code_versions", None)
    branches = versions.branches("background") if versions is not None else None  # once, not per island
    return jsonify({"islands": [island_out(r, who, registration=page.registrations.get(r.island_id), branches=branches)
                                for r in page.rows],
                    "total": page.total, "limit": limit, "offset": offset, "next_offset": page.next_offset,
                    "last_event_id": last_event_id, "user": who.name, "user_id": who.id})


def launch():
    c = ctx()
    who = c.auth.require()
    data = json_body()
    unknown = sorted(set(data) - set(LAUNCH_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0][:40]!r}; allowed: {', '.join(LAUNCH_FIELDS)}")
    owner = optional_text(data, "owner", 128) or who.name
    owner_id = optional_text(data, "owner_id", 128)
    if not who.admin and (owner != who.name or owner_id not in (None, who.id)):
        raise PermissionDenied(f"only admins may launch islands for someone else; leave owner empty to launch as {who.name}")
    if owner_id is None:
        # an admin naming someone else without an id launches for that name as id (as the CLI does)
        owner_id = who.id if owner == who.name else owner
    env = data.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise InvalidInput("env: expected an object of NAME: \"value\" text pairs")
    row = c.service.launch(LaunchRequest(
        owner=owner, branch=optional_text(data, "branch", 64), start_time=optional_text(data, "start_time", 64) or "",
        memory=optional_text(data, "memory", 32), image=optional_text(data, "image", 255), env=env,
        is_admin=who.admin, owner_id=owner_id, lease=optional_text(data, "lease", 64), by=who.user),
        background=True)  # the apply runs on the service's worker; its outcome shows as the state
    response = jsonify(island_out(row, who, with_registration=False))
    response.status_code = 201
    response.headers["Location"] = url_for(".api_get_island", island_id=row.island_id)
    return response


def get_island(island_id: int):
    c = ctx()
    who = c.auth.require()
    return jsonify(island_out(c.service.get(checked_id(island_id)), who))


def delete_island(island_id: int):
    c = ctx()
    who = c.auth.require()
    row = c.service.delete(checked_id(island_id), user=acting_as(who))
    return jsonify(island_out(row, who)), 202


def restart_island(island_id: int):
    c = ctx()
    who = c.auth.require()
    row = c.service.restart(checked_id(island_id), user=acting_as(who))
    return jsonify(island_out(row, who)), 202


def logs(island_id: int):
    """The owner's and admins' only (the service's ownership check); at most islands.log_limit_bytes,
    with ``truncated`` and a ``note`` saying so; 503 + Retry-After when every log channel is busy."""
    c = ctx()
    who = c.auth.require()
    tail = int_arg("tail", 200, 1, 10000)
    container = request.args.get("container", CONTAINERS[0])
    if container not in CONTAINERS:
        raise InvalidInput(f"container: {container[:40]!r} is not one of {', '.join(CONTAINERS)}")
    read = c.service.read_logs(checked_id(island_id), tail=tail, container=container, user=acting_as(who))
    return jsonify({"island_id": island_id, "container": container, "tail": tail, "logs": read.text,
                    "truncated": read.truncated, "limit_bytes": read.limit_bytes, "note": read.note(tail)})


def island_events(island_id: int):
    c = ctx()
    c.auth.require()
    limit = int_arg("limit", 200, 1, 1000)
    events = c.service.events(checked_id(island_id), limit=limit)
    return jsonify({"island_id": island_id, "events": [event_json(e) for e in events]})


def event_stream():
    if request.method == "HEAD":  # Flask adds HEAD to every GET rule; a stream has no head to give
        raise MethodNotAllowed(valid_methods=["GET"])
    c = ctx()
    who = c.auth.require()
    # a reconnecting EventSource sends Last-Event-ID, newer than the ?after= its URL still carries
    after = request.headers.get("Last-Event-ID") or request.args.get("after")
    if after is not None and not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise InvalidInput(f"after: expected an event id (a whole number), got {after[:40]!r}")
    try:
        slot = c.slots.take(who.id)  # per user id: namesakes have a cap each
    except sse.StreamsBusy as busy:
        if busy.per_user:
            raise TooManyStreams(f"you already have {c.slots.per_user} live-update streams open (other tabs); "
                                 "this page polls instead") from None
        raise TooManyStreams("every live-update slot of this server is busy; the page polls instead") from None
    try:
        subscription = c.feed.subscribe(int(after) if after is not None else None)
        admins = c.auth.admins

        def render(item) -> bytes:  # the asker changes only can_change: one text per item and answer
            can_change = item.island is not None and may_change(item.island, who, admins)
            return sse.transition_message(item, can_change, lambda i: feed_item_json(i, who, admins))

        body = sse.stream(subscription, render, heartbeat=c.heartbeat, max_seconds=c.stream_seconds)
        # the body owns the slot: the server's close() gives it back, even if it never reads the body
        owned = sse.SlotStream(body, slot, on_close=lambda: c.feed.unsubscribe(subscription))
    except BaseException:
        slot.release()
        raise
    return Response(owned, mimetype="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class _Anyone:
    """Who may change every island (the ``can_change: true`` text of a transition)."""
    id, admin = "", True


def prerender_transitions(items) -> None:
    """The feed's ``prepare``: both texts of each new transition (the asker changes only
    ``can_change``), made once by the poller before any of the open pages' threads reads it."""
    for item in items:
        sse.transition_message(item, False, lambda i: feed_item_json(i, None, ()))
        if item.island is not None:
            sse.transition_message(item, True, lambda i: feed_item_json(i, _Anyone, ()))


@counted_registration  # island_ssh_registrations_total{result}
def register(island_id: int):
    """The container's call (entry.sh): the island's own token only, no user session."""
    c = ctx()
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RequestEntityTooLarge()
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        data = {}  # not an object: every field reads as missing, refused after the token check
    fields = {}
    for name in ("node_ip", "ports", "pod_name"):
        value = data.get(name, "")
        if not isinstance(value, str) or len(value) > 255:
            raise InvalidInput(f"{name} must be text of at most 255 characters", island_id=island_id)
        fields[name] = value
    code_version = data.get("code_version")  # absent: an entry script from before issue 15 (None)
    if code_version is not None and (not isinstance(code_version, str) or len(code_version) > 255):
        raise InvalidInput("code_version must be text of at most 255 characters", island_id=island_id)
    if code_version is not None:
        fields["code_version"] = code_version  # checked by the service (core.code_version.check_reported)
    c.service.register(checked_id(island_id), bearer_token(), **fields)
    return jsonify({"island_id": island_id, "registered": True, "node_ip": fields["node_ip"]})


def vocabulary():
    """The names the page's script needs (no user: nothing here is private; the spec says as much)."""
    return jsonify(vocabulary_json())


def openapi_spec():
    c = ctx()
    return jsonify(build_spec(c.service.settings, server_url=url_for(".api_list_islands").rsplit("/api/", 1)[0]))


ROUTES = [
    ("/api/me", "api_me", me, ["GET"]),
    ("/api/islands", "api_list_islands", list_islands, ["GET"]),
    ("/api/islands", "api_launch", launch, ["POST"]),
    ("/api/islands/<int:island_id>", "api_get_island", get_island, ["GET"]),
    ("/api/islands/<int:island_id>", "api_delete_island", delete_island, ["DELETE"]),
    ("/api/islands/<int:island_id>/restart", "api_restart", restart_island, ["POST"]),
    # POST /api/islands/<id>/clock and the rest of the clock: api_clock.ROUTES
    ("/api/islands/<int:island_id>/logs", "api_logs", logs, ["GET"]),
    ("/api/islands/<int:island_id>/events", "api_island_events", island_events, ["GET"]),
    ("/api/islands/<int:island_id>/register", "api_register", register, ["POST"]),
    ("/api/events", "api_events", event_stream, ["GET"]),
    ("/api/vocabulary", "api_vocabulary", vocabulary, ["GET"]),
    ("/api/openapi.json", "api_openapi", openapi_spec, ["GET"]),
]
