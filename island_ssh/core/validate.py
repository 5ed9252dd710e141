"""Validation of every value a user types before it reaches a manifest, a command or the database.

Pure: no I/O. Each function returns the cleaned value or raises ``InvalidField`` (an
``InvalidInput``) naming the field and saying why. Hostile text (quotes, ``$(...)``, backticks,
YAML syntax, ``{{ }}``) is accepted as data where the field allows free text, because manifests are
built as data and commands quote their arguments; what is refused is what can never be right:
control characters in names, lone surrogates, NUL, oversize values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from typing import Any

from island_ssh.core.clock import ClockError, ClockRequest, parse_clock_request, parse_wall_time
from island_ssh.core.settings import IslandSettings
from island_ssh.core.errors import InvalidField  # lives with the family; callers import it from here too
from island_ssh.core.image_refs import (IMAGE_MAX, require_text as _require_text, show as _show,  # noqa: F401
                                       validate_image)
from island_ssh.core.pod_policy import check_image
from island_ssh.core.quantity import parse_quantity

OWNER_MAX = 64
ENV_MAX_VARS = 32
ENV_VALUE_MAX = 4096
ENV_NAME_MAX = 128
MEMORY_MIN = 64 * 2**20
MEMORY_MAX = 64 * 2**30

RESERVED_ENV_NAMES = frozenset(
    {
        "curlServer",
        "username",
        "LD_PRELOAD",
        "FAKETIME",
        "FAKETIME_TIMESTAMP_FILE",
        "FAKETIME_DONT_RESET",
        "FAKETIME_DONT_FAKE_MONOTONIC",
        "FAKETIME_CACHE_DURATION",
        "FAKETIME_NO_CACHE",
        "ISLAND_TOKEN",
        "ISLAND_ID",
        "ISLAND_PORTS",
        "ISLAND_CODE_VERSION_FILE",
        "SERVER_COMMAND",
        "NODE_IP",
        "PATH",
        "HOME",
    }
)
"""Names the Pod sets itself (or that would subvert the clock or the loader)."""
RESERVED_ENV_PREFIXES = ("FAKETIME_", "LD_", "ISLAND_SSH_")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_QUANTITY = re.compile(r"([0-9]+)(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?\Z")
_BRANCH = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")


def _check_encodable(field: str, value: str) -> None:
    if "\x00" in value:
        raise InvalidField(field, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(field, "contains a lone surrogate (broken UTF-16 input)") from None


def validate_owner(value: object) -> str:
    """A display name: 1..64 characters, any script, inner spaces allowed, no control characters."""
    text = unicodedata.normalize("NFC", _require_text("owner", value)).strip()
    _check_encodable("owner", text)
    if not text:
        raise InvalidField("owner", "is empty; type your name")
    if len(text) > OWNER_MAX:
        raise InvalidField("owner", f"{len(text)} characters; at most {OWNER_MAX}")
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and char != " "):
            name = unicodedata.name(char, "a control character")
            raise InvalidField(
                "owner", f"contains {name} (U+{ord(char):04X}); use letters, digits, plain spaces and punctuation"
            )
    return text


def validate_branch(value: object, branches: Iterable[str]) -> str:
    text = _require_text("branch", value).strip()
    allowed = list(branches)
    if text not in allowed:
        raise InvalidField("branch", f"{_show(text)} is not one of {', '.join(allowed)}")
    return text


def validate_branch_name(value: str) -> str:
    """A configured branch must be usable in a pod name and as a label value."""
    if not isinstance(value, str) or not _BRANCH.match(value):
        raise InvalidField("branch", f"{_show(value)} must be lower-case letters, digits and '-' (a DNS label)")
    return value


def validate_start_time(value: object, tz: tzinfo = timezone.utc) -> str:
    """Empty (real time) or ``YYYY-MM-DD HH:MM:SS`` naming a real calendar date; returned normalised."""
    text = _require_text("start time", value).strip()
    if not text:
        return ""
    try:
        return parse_wall_time(text, tz, field="start time").strftime("%Y-%m-%d %H:%M:%S")
    except ClockError as exc:
        raise InvalidField("start time", str(exc).split(": ", 1)[-1]) from None


def memory_bytes(quantity: str) -> int:
    """Bytes of a Kubernetes memory quantity (``1500Mi``, ``2Gi``, ``2G``, ``1.5Gi``); stricter
    than Kubernetes on what a user may type (no exponents, signs or milli-bytes)."""
    if not _QUANTITY.match(quantity):
        raise InvalidField("memory", f"{_show(quantity)} is not a quantity like 1500Mi or 2Gi")
    return parse_quantity(quantity)


def validate_memory(value: object, field: str = "memory", minimum: int = MEMORY_MIN, maximum: int = MEMORY_MAX) -> str:
    text = _require_text(field, value).strip()
    if len(text) > 32:
        raise InvalidField(field, "too long for a memory quantity")
    try:
        size = memory_bytes(text)
    except InvalidField as exc:
        raise InvalidField(field, str(exc).split(": ", 1)[-1]) from None
    if not minimum <= size <= maximum:
        raise InvalidField(field, f"{text} is outside {minimum // 2**20}Mi .. {maximum // 2**30}Gi")
    return text


def validate_memory_pair(request: object, limit: object) -> tuple[str, str]:
    req = validate_memory(request, "memory request")
    lim = validate_memory(limit, "memory limit")
    if memory_bytes(req) > memory_bytes(lim):
        raise InvalidField("memory request", f"{req} is above the limit {lim}; raise the limit or lower the request")
    return req, lim


def validate_env(value: object) -> dict[str, str]:
    """Extra environment variables (a mapping or (name, value) pairs), order kept."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)):
        pairs = list(value)
    else:
        raise InvalidField("env", f"expected name=value pairs, got {type(value).__name__}")
    if len(pairs) > ENV_MAX_VARS:
        raise InvalidField("env", f"{len(pairs)} variables; at most {ENV_MAX_VARS}")
    result: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InvalidField("env", f"{_show(pair)} is not a (name, value) pair")
        name, text = pair
        if not isinstance(name, str) or len(name) > ENV_NAME_MAX or not _ENV_NAME.match(name):
            raise InvalidField("env", f"name {_show(name)} must match [A-Za-z_][A-Za-z0-9_]* (at most {ENV_NAME_MAX})")
        if name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES):
            raise InvalidField(f"env {name}", "is set by island_ssh itself and cannot be overridden")
        if name in result:
            raise InvalidField(f"env {name}", "given twice")
        text = _require_text(f"env {name}", text)
        _check_encodable(f"env {name}", text)
        if len(text) > ENV_VALUE_MAX:
            raise InvalidField(f"env {name}", f"{len(text)} characters; at most {ENV_VALUE_MAX}")
        result[name] = text
    return result


def validate_clock(value: object, tz: tzinfo = timezone.utc) -> ClockRequest:
    text = _require_text("clock", value)
    try:
        return parse_clock_request(text, tz)
    except ClockError as exc:
        raise InvalidField("clock", str(exc).split(": ", 1)[-1]) from None


def validate_island_id(value: object, id_min: int, id_max: int) -> int:
    """An island id typed on the CLI or in a URL."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 9):
            raise InvalidField("island id", f"{_show(value)} is not a whole number")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField("island id", f"expected a whole number, got {type(value).__name__}")
    if not id_min <= value <= id_max:
        raise InvalidField("island id", f"{value} is outside {id_min}..{id_max}")
    return value


@dataclass(frozen=True)
class ValidLaunch:
    """A launch request with every field checked and the settings' defaults filled in."""

    owner: str
    branch: str
    start_time: str
    memory_request: str
    memory_limit: str
    image: str
    env: dict[str, str] = field(default_factory=dict)
    memory: str | None = None
    """The memory the user asked for, None when they took the default."""
    custom_image: str | None = None
    """The image the user asked for, None when they took the default."""

    def overrides(self) -> dict[str, Any]:
        """What the user chose beyond owner and branch, as stored with the island (for restart)."""
        chosen = {"start_time": self.start_time, "memory": self.memory, "image": self.custom_image,
                  "env": dict(self.env)}
        return {key: value for key, value in chosen.items() if value}


def validate_launch(request: Any, settings: IslandSettings) -> ValidLaunch:
    """Check a launch request (``owner``, ``branch``, ``start_time``, ``memory``, ``image``, ``env``,
    ``is_admin``: may the asker use ``islands.admin_images`` too).

    ``branch``, ``memory`` and ``image`` left empty take the settings' defaults. A ``memory``
    given sets the request; the limit is the larger of it and ``settings.memory_limit``, so a
    bigger island keeps the seed's headroom and a smaller one still fits its limit.
    """
    def attr(name: str, default: Any = None) -> Any:
        if isinstance(request, Mapping):
            return request.get(name, default)
        return getattr(request, name, default)

    owner = validate_owner(attr("owner"))
    branch = validate_branch(attr("branch") or settings.default_branch, settings.branches)
    validate_branch_name(branch)
    start_time = validate_start_time(attr("start_time") or "")
    memory = attr("memory")
    if memory:
        request_q = validate_memory(memory, "memory")
        limit_q = request_q if memory_bytes(request_q) >= memory_bytes(settings.memory_limit) else settings.memory_limit
    else:
        request_q, limit_q = settings.memory_request, settings.memory_limit
    request_q, limit_q = validate_memory_pair(request_q, limit_q)
    image = attr("image")
    custom_image = check_image(image, settings, admin=attr("is_admin") is True) if image else None
    return ValidLaunch(
        owner=owner, branch=branch, start_time=start_time, memory_request=request_q, memory_limit=limit_q,
        image=custom_image or settings.image, env=validate_env(attr("env")),
        memory=request_q if memory else None, custom_image=custom_image,
    )
