"""Image references and the small text checks every validator shares. Pure.

Apart from validate.py so that pod_policy.py (which images a launch may use) and validate.py
(which calls it for a launch) both build on it without importing each other.
"""

from __future__ import annotations

import re

from island_ssh.core.errors import InvalidField

IMAGE_MAX = 255
# The distribution reference grammar, simplified: [registry[:port]/]path[:tag][@digest].
_IMAGE = re.compile(
    r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?\Z"
)


def show(value: object) -> str:
    """A value as a message quotes it: repr, cut at 40 characters."""
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def require_text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidField(field, f"expected text, got {type(value).__name__}")
    return value


def validate_image(value: object) -> str:
    text = require_text("image", value).strip()
    if not text:
        raise InvalidField("image", "is empty")
    if len(text) > IMAGE_MAX:
        raise InvalidField("image", f"{len(text)} characters; at most {IMAGE_MAX}")
    if not _IMAGE.match(text):
        raise InvalidField("image", f"{show(text)} is not an image reference like repo/name:tag")
    return text
