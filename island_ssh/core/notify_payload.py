"""Webhook payloads: event vocabulary, presets, JSON-safe templates, the text of each event, and
which stored island events become notifications. Pure: no I/O, no clock reads.

A template is either JSON (it parses as JSON: placeholders are substituted inside its STRING
values, then the whole is serialized again, so a quote, a newline or Chinese in a field can never
break the JSON) or plain text (substituted as text, sent as text/plain). ``str.format`` is never
used on user data: a placeholder is ``{name}`` from a fixed list, ``{{`` and ``}}`` are literal
braces, and a field's own text is never scanned for placeholders again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from island_ssh.core.errors import ConfigError

EVENTS = ("ready", "failed", "lease-warning", "expired", "deleted-by-other", "idle")
"""What a webhook may subscribe to (``notify.webhooks[].events``; empty = all)."""
TEST_EVENT = "test"
"""Sent by ``island-ssh notify test`` to every endpoint, whatever its events."""

FIELDS = ("event", "text", "island_id", "generation", "owner", "owner_id", "branch", "state", "reason",
          "message", "pod_name", "node", "host_ip", "port_base", "ports", "at", "actor", "actor_id", "expires_at",
          "idle_since", "page_url", "detail")
"""The placeholders a template may use; any other name is refused at config load."""

PRESETS: dict[str, str] = {
    # the real body shapes of each service's "custom robot" / incoming webhook (text messages)
    "wecom": '{"msgtype": "text", "text": {"content": "{text}"}}',
    "dingtalk": '{"msgtype": "text", "text": {"content": "{text}"}}',
    "feishu": '{"msg_type": "text", "content": {"text": "{text}"}}',
    "slack": '{"text": "{text}"}',
    "json": "",  # every field as one JSON object (see render)
}
MAX_TEXT = 2000
"""Characters of one field in a payload; longer values (a failure message) are cut with '...'."""
MAX_HEADERS = 32

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_FAILED_STATES = ("failed", "timeout", "lost")


@dataclass(frozen=True)
class Payload:
    body: bytes
    content_type: str


# -- config load --------------------------------------------------------------------------------
def check_settings(notify) -> None:
    """ConfigError naming the webhook and what is accepted; called when the config is loaded."""
    names = set()
    for index, hook in enumerate(notify.webhooks):
        where = f"notify.webhooks[{index}]"
        if not isinstance(hook.name, str) or not _NAME.match(hook.name):
            raise ConfigError(f"{where}.name {hook.name!r}: 1-64 letters, digits, '.', '_' or '-'")
        where = f"notify.webhooks[{hook.name}]"
        if hook.name in names:
            raise ConfigError(f"{where}: two webhooks have this name; names must be unique")
        names.add(hook.name)
        check_url(hook.url, where)
        if hook.preset not in PRESETS:
            raise ConfigError(f"{where}.preset {hook.preset!r}: one of {', '.join(PRESETS)}")
        for event in hook.events:
            if event not in EVENTS:
                raise ConfigError(f"{where}.events: {event!r} is not an event; known: {', '.join(EVENTS)}")
        parse_template(hook.template, f"{where}.template")
        if len(hook.headers) > MAX_HEADERS:
            raise ConfigError(f"{where}.headers: at most {MAX_HEADERS}")
        for key, value in hook.headers.items():
            if not _HEADER_NAME.match(key) or not isinstance(value, str) or any(c in value for c in "\r\n\0"):
                raise ConfigError(f"{where}.headers.{key}: a header name (letters, digits, -) and a one-line "
                                  f"string value")
        if hook.secret and hook.preset not in ("dingtalk", "feishu"):
            raise ConfigError(f"{where}.secret: only the dingtalk and feishu presets sign their calls")
        if hook.secret and (len(hook.secret) > 256 or any(ord(c) < 32 for c in hook.secret)):
            raise ConfigError(f"{where}.secret: one line of at most 256 characters")
        if not 0 < hook.timeout <= 120:
            raise ConfigError(f"{where}.timeout {hook.timeout}: seconds, more than 0 and at most 120")
    for key, low, high in (("attempts", 1, 50), ("concurrency", 1, 64)):
        value = getattr(notify, key)
        if not low <= value <= high:
            raise ConfigError(f"notify.{key} {value}: from {low} to {high}")
    for key in ("backoff", "backoff_max", "poll_interval", "retention"):
        if not getattr(notify, key) > 0:
            raise ConfigError(f"notify.{key} {getattr(notify, key)}: seconds, more than 0")
    if not 1024 <= notify.max_response_bytes <= 16 * 1024 * 1024:
        raise ConfigError(f"notify.max_response_bytes {notify.max_response_bytes}: from 1024 to 16777216")
    if notify.page_url:
        check_url(notify.page_url, "notify.page_url")


_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?://(?P<netloc>[^/?#]*))?(?P<path>[^?#]*)"
                  r"(?:\?(?P<query>[^#]*))?(?:#.*)?$", re.DOTALL)
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]*)(?::(?P<port>[0-9]*))?$")


@dataclass(frozen=True)
class URLParts:
    scheme: str
    userinfo: str
    host: str
    port: int | None
    path: str
    query: str


def split_url(url: str) -> URLParts | None:
    """scheme://[userinfo@]host[:port]/path?query as parts; None when it is not that shape or the
    port is not 1-65535. (Pure: the core may not import urllib.)"""
    match = _URL.match(url or "")
    if not match or match.group("netloc") is None:
        return None
    userinfo, _, hostport = match.group("netloc").rpartition("@")
    hp = _HOST_PORT.match(hostport)
    if not hp:
        return None
    port = hp.group("port")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    return URLParts(match.group("scheme").lower(), userinfo, hp.group("host").strip("[]"),
                    int(port) if port else None, match.group("path"), match.group("query") or "")


def check_url(url: str, where: str) -> None:
    """http or https with a host, no spaces or control characters, no user:password@."""
    parts = split_url(url)
    if parts is None or (parts.scheme in ("http", "https") and not parts.host):
        if url and url.split(":", 1)[0].lower() not in ("http", "https"):
            raise ConfigError(f"{where}.url {redact_url(url)!r}: only http:// or https:// URLs with a host "
                              f"are accepted")
        raise ConfigError(f"{where}.url {redact_url(url)!r}: not a valid http(s) URL")
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{where}.url {redact_url(url)!r}: only http:// or https:// URLs with a host "
                          f"are accepted")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ConfigError(f"{where}.url: no spaces or control characters")
    if parts.userinfo:
        raise ConfigError(f"{where}.url: no user:password@ in the URL; use headers (Authorization)")


def redact_url(url: str) -> str:
    """The URL as shown in doctor, logs and the API: the query (WeCom's key=, DingTalk's
    access_token=) and any path segment longer than 16 characters (Slack's secret path) hidden."""
    match = _URL.match(url or "")
    if not match:
        return "<invalid url>"
    netloc = (match.group("netloc") or "").rpartition("@")[2]
    path = "/".join(s if len(s) <= 16 else s[:4] + "..." for s in match.group("path").split("/"))
    query = "?..." if match.group("query") else ""
    return f"{match.group('scheme')}://{netloc}{path}{query}" if match.group("netloc") is not None \
        else f"{match.group('scheme')}:{path}{query}"


# -- templates ----------------------------------------------------------------------------------
def parse_template(template: str, where: str = "template") -> tuple[str, Any]:
    """("json", parsed) | ("text", template) | ("fields", None) for an empty one; ConfigError on an
    unknown placeholder."""
    if not template or not template.strip():
        return "fields", None
    try:
        parsed = json.loads(template)
    except ValueError:
        parsed = None
    if isinstance(parsed, (dict, list)):
        for text in _strings(parsed):
            _check_placeholders(text, where)
        return "json", parsed
    _check_placeholders(template, where)
    return "text", template


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _check_placeholders(text: str, where: str) -> None:
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name is not None and name not in FIELDS:
            raise ConfigError(f"{where}: unknown placeholder {{{name}}}; known: {', '.join(FIELDS)} "
                              f"(write {{{{ and }}}} for literal braces)")


def substitute(text: str, fields: Mapping[str, Any]) -> str:
    """One pass over ``text``: each {name} becomes the field's text; the result is not scanned again."""
    def one(match):
        if match.group(1) is None:
            return match.group(0)[0]
        value = fields.get(match.group(1))
        return "" if value is None else str(value)
    return _PLACEHOLDER.sub(one, text)


def _fill(value, fields: Mapping[str, Any]):
    if isinstance(value, str):
        whole = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", value)
        if whole and isinstance(fields.get(whole.group(1)), (int, float)) \
                and not isinstance(fields.get(whole.group(1)), bool):
            return fields[whole.group(1)]  # "{island_id}" alone stays a number
        return substitute(value, fields)
    if isinstance(value, dict):
        return {_fill(k, fields): _fill(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, fields) for v in value]
    return value


def render(template: str, preset: str, fields: Mapping[str, Any]) -> Payload:
    """The body one webhook gets for one event (``fields`` from ``event_fields``)."""
    kind, parsed = parse_template(template or PRESETS.get(preset, ""))
    if kind == "json":
        body = json.dumps(_fill(parsed, fields), ensure_ascii=False, separators=(",", ":"))
        return Payload(_utf8(body), "application/json; charset=utf-8")
    if kind == "text":
        return Payload(_utf8(substitute(parsed, fields)), "text/plain; charset=utf-8")
    body = json.dumps({k: v for k, v in fields.items() if v not in (None, "")}, ensure_ascii=False,
                      separators=(",", ":"), default=str)
    return Payload(_utf8(body), "application/json; charset=utf-8")


def _utf8(text: str) -> bytes:
    # a lone surrogate (a JSON "\ud800" that reached a field) has no UTF-8: it becomes "?"
    return text.encode("utf-8", errors="replace")


def sign(preset: str, secret: str, url: str, payload: Payload, now: float) -> tuple[str, Payload]:
    """The URL and body of a signed call (``now``: the caller's clock, seconds). DingTalk: the URL
    gets ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret, "ts\nsecret")); Feishu: the
    JSON body gets ``timestamp`` (s) and ``sign`` = base64(HMAC-SHA256(key "ts\nsecret", "")).
    Anything else is returned as it is."""
    if not secret:
        return url, payload
    if preset == "dingtalk":
        stamp = str(int(now * 1000))
        digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
        quoted = base64.b64encode(digest).decode().replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        return f"{url}{'&' if '?' in url else '?'}timestamp={stamp}&sign={quoted}", payload
    if preset == "feishu" and payload.content_type.startswith("application/json"):
        stamp = str(int(now))
        digest = hmac.new(f"{stamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
        body = json.loads(payload.body.decode("utf-8"))
        if isinstance(body, dict):
            body.update(timestamp=stamp, sign=base64.b64encode(digest).decode())
            return url, Payload(_utf8(json.dumps(body, ensure_ascii=False, separators=(",", ":"))),
                                payload.content_type)
    return url, payload


def answer_problem(preset: str, status: int, body: bytes) -> str:
    """'' when a 2xx answer means delivered; else why not. WeCom and DingTalk answer 200 with
    {"errcode": N, "errmsg": ...} and Feishu 200 with {"code": N, "msg": ...} on a refusal."""
    if preset not in ("wecom", "dingtalk", "feishu"):
        return ""
    try:
        answer = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(answer, dict):
        return ""
    for code_key, msg_key in (("errcode", "errmsg"), ("code", "msg"), ("StatusCode", "StatusMessage")):
        code = answer.get(code_key)
        if code not in (None, 0, "0"):
            return f"{preset} refused it: {code_key} {code}: {str(answer.get(msg_key, ''))[:300]}"
    return ""


# -- what an event says ---------------------------------------------------------------------------
def clip(value: Any, limit: int = MAX_TEXT) -> Any:
    """A field as a payload carries it: cut at ``limit`` characters, a lone surrogate (no UTF-8,
    refused by JSON_VALID) as '?'."""
    if isinstance(value, str):
        value = value.encode("utf-8", errors="replace").decode("utf-8")
        if len(value) > limit:
            return value[:limit - 3] + "..."
    return value


def event_fields(event: str, row=None, at: str = "", page_url: str = "", **extra: Any) -> dict[str, Any]:
    """Every placeholder's value for ``event`` about island ``row`` (an IslandRow or None)."""
    fields: dict[str, Any] = {name: "" for name in FIELDS}
    fields.update(event=event, at=at)
    if row is not None:
        for name in ("island_id", "generation", "owner", "owner_id", "branch", "state", "reason", "message",
                     "pod_name", "node", "host_ip", "port_base"):
            value = getattr(row, name, None)
            fields[name] = "" if value is None else value
        try:
            ports = getattr(row, "ports", None)
            fields["ports"] = "/".join(str(int(p)) for p in ports) if ports else ""
        except (TypeError, ValueError):
            pass
    if event == "expired":
        fields["reason"] = "LeaseExpired"  # the row as it was before; IdleExpired is passed
    for name, value in extra.items():
        if name in FIELDS and value is not None:
            fields[name] = value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
    if page_url and fields["island_id"] != "":
        fields["page_url"] = f"{page_url.rstrip('/')}/islands/{fields['island_id']}"
    fields = {k: clip(v) for k, v in fields.items()}
    fields["text"] = clip(describe(fields))
    return fields


def describe(f: Mapping[str, Any]) -> str:
    """The one-line human text of an event (the chat presets send only this)."""
    who = ", ".join(str(x) for x in (f.get("owner"), f.get("branch")) if x not in (None, ""))
    island = f"island {f.get('island_id')}" + (f" ({who})" if who else "")
    event = f.get("event")
    if event == "ready":
        where = " ".join(str(x) for x in (f.get("node"), f.get("host_ip")) if x)
        text = f"{island} is ready" + (f" on {where}" if where else "") + \
            (f", ports {f['ports']}" if f.get("ports") else "")
    elif event == "failed":
        why = ": ".join(str(x) for x in (f.get("reason"), f.get("message")) if x)
        text = f"{island} failed" + (f": {why}" if why else "")
    elif event == "lease-warning":
        text = f"{island} expires at {f.get('expires_at') or 'soon'}; extend it to keep it"
    elif event == "expired":
        text = f"{island} was deleted: " + ("it was idle too long" if f.get("reason") == "IdleExpired"
                                            else "its lease expired")
    elif event == "deleted-by-other":
        text = f"{island} was deleted by {f.get('actor') or 'someone else'}"
    elif event == "idle":
        text = f"{island} is idle" + (f" since {f['idle_since']}" if f.get("idle_since") else "")
    elif event == TEST_EVENT:
        text = "island-ssh test notification: this endpoint is configured"
    else:
        text = f"{island}: {event}"
    if f.get("detail"):
        text += f" ({f['detail']})"
    if f.get("page_url"):
        text += f" {f['page_url']}"
    return text


def event_notification(from_state: str | None, to_state: str, reason: str) -> str | None:
    """Which notification a stored island transition is: "ready", "failed" or None."""
    if to_state == "ready" and from_state != "ready":
        return "ready"
    if to_state in _FAILED_STATES and from_state not in _FAILED_STATES:
        return "failed"
    if to_state == "deleted" and reason == "ApplyFailed":
        return "failed"
    return None


def backoff_delay(attempts: int, backoff: float, backoff_max: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: backoff, 2x, 4x, ... capped."""
    return min(backoff_max, backoff * (2 ** max(0, attempts - 1)))


def wants(events, event: str) -> bool:
    """Does a webhook with this ``events`` list get ``event`` (empty list: every event)."""
    return event == TEST_EVENT or not events or event in events
