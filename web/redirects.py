"""Where the login form may send the browser afterwards (``?next=``): only a path of this app.

A browser does not read a Location header the way ``str.startswith`` does. The WHATWG URL parser
drops tab and newline anywhere, strips leading/trailing control characters and spaces, and reads
``\\`` as ``/`` for http(s) URLs: ``/\\t/evil.example`` becomes ``//evil.example``, another host. So
the target is refused (and the app's index used instead) unless, as sent, it is already in the
form no parser can read as another origin:

- no control character, no whitespace, no backslash, anywhere, in the text or after
  percent-decoding it (a proxy or a later redirect may decode once more);
- it starts with this app's own root (``/`` standalone, the blueprint's prefix when mounted)
  and its second character is not ``/``: a path-absolute URL, never scheme-relative;
- no scheme and no host when split, and at most MAX_NEXT characters.

Unicode slash look-alikes (``／``, ``∕``, ``⁄``, ``＼``) are refused too. A browser would only
percent-encode them in a path, but a proxy or a later hop that applies NFKC (as IDNA mapping does)
turns ``／`` into ``/``, and no page of this app has them in its path.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

MAX_NEXT = 2048
SLASH_LOOKALIKES = frozenset("\u2044\u2215\u2216\u29f5\u29f8\u29f9\ufe68\uff0f\uff3c")


def _plain(text: str) -> bool:
    """No control, format, separator or whitespace character, no backslash."""
    for ch in text:
        if ch == "\\" or ch in SLASH_LOOKALIKES or ch.isspace() or unicodedata.category(ch)[0] in ("C", "Z"):
            return False
    return True


def _path_of_this_app(text: str, root: str) -> bool:
    if not text.startswith(root) or text.startswith("//") or not _plain(text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def safe_next(target: object, root: str, fallback: str) -> str:
    """``target`` if it is a path under ``root`` (which starts and ends with ``/``), else ``fallback``."""
    if not isinstance(target, str) or not target or len(target) > MAX_NEXT:
        return fallback
    decoded = target
    for _ in range(3):  # %252F%252F decodes twice to //: look at every layer a decoder may peel
        if not _path_of_this_app(decoded, root):
            return fallback
        try:
            once = unquote(decoded, errors="strict") if "%" in decoded else decoded
        except UnicodeDecodeError:  # not UTF-8 once decoded: nothing this app links to
            return fallback
        if once == decoded:
            return target
        decoded = once
    return fallback
