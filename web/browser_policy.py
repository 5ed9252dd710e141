"""What every response tells the browser to enforce: no framing (clickjacking), no inline script,
and when the session cookie may travel.

Pages get the full Content-Security-Policy (their scripts and styles come from static/, never
inline); JSON, event streams and files get ``default-src 'none'``, as nothing in them is meant to
load anything. Both carry ``frame-ancestors 'none'``, and X-Frame-Options DENY says the same to
browsers that predate CSP level 2. A host app that mounts the blueprint gets these on our
responses only; its own pages are its business.
"""

from __future__ import annotations

from flask import has_request_context, request
from flask.sessions import SecureCookieSessionInterface

from island_ssh.core.errors import ConfigError

FRAMING = "frame-ancestors 'none'"
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            f"object-src 'none'; base-uri 'none'; form-action 'self'; {FRAMING}")
OTHER_CSP = f"default-src 'none'; {FRAMING}"
SECURE_COOKIE_MODES = ("auto", "always", "never")


def apply(response):
    """after_request: the headers above, without replacing what a view chose itself."""
    html = response.mimetype == "text/html"
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP if html else OTHER_CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


class SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session whose ``Secure`` flag follows web.secure_cookies: ``auto`` sets
    it when this request came over HTTPS (request.is_secure; behind a TLS-terminating proxy that
    needs the proxy trusted, or ``always``), so a session made over HTTPS is never sent over HTTP."""

    def __init__(self, mode: str = "auto") -> None:
        if mode not in SECURE_COOKIE_MODES:
            raise ConfigError(f"web.secure_cookies: {mode!r} is not one of {', '.join(SECURE_COOKIE_MODES)}")
        self.mode = mode

    def get_cookie_secure(self, app) -> bool:
        if self.mode == "always":
            return True
        if self.mode == "never":
            return False
        return has_request_context() and request.is_secure
