"""Who is asking, and is the form post really theirs (CSRF).

Three ways in, tried in this order:
- ``Authorization: Bearer <token>`` with a token from WebSettings.users: scripts and the
  table-import app's server calling the API. No cookie is involved, so no CSRF check.
- the ``current_user`` hook the host app supplies (embedding): returns the logged-in user's name.
- standalone: the session cookie set by the login form (token typed once, name kept in the signed
  session with a fingerprint of the token, so a token removed from the config logs its user out).

Cookie-borne requests that change something carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``). Tokens are compared through their sha256 digests in
constant time; no token is ever put in a page, a log line or an error.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Callable

from flask import request, session

from island_ssh.core.errors import ConfigError, IslandError, PermissionDenied

SESSION_USER = "island_ssh.user"
SESSION_KEY = "island_ssh.key"
SESSION_CSRF = "island_ssh.csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_TOKEN = 4096


class Unauthorized(IslandError):
    """No user: log in (the page) or send a token (the API)."""

    cli_exit = 5  # not allowed, as PermissionDenied
    http_status = 401


class CSRFError(PermissionDenied):
    """A cookie-borne change without the page's CSRF token."""


@dataclass(frozen=True)
class Identity:
    name: str
    via: str
    """"token", "hook" or "session"."""
    admin: bool = False


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def fingerprint(token: str) -> str:
    return hashlib.sha256(b"island_ssh.session:" + _digest(token)).hexdigest()[:32]


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return ""


def _hook_name(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    for attr in ("name", "username"):
        name = getattr(value, attr, None)
        if isinstance(name, str) and name:
            return name
    raise ConfigError("current_user must return the user's name (str), an object with .name, or None")


class Auth:
    def __init__(self, users: dict[str, str], admins, current_user: Callable[[], object] | None = None) -> None:
        self._tokens = [(_digest(str(token)), str(user)) for token, user in (users or {}).items()]
        self._fingerprints = {fingerprint(str(token)): str(user) for token, user in (users or {}).items()}
        self.admins = frozenset(admins or ())
        self.hook = current_user

    @property
    def standalone(self) -> bool:
        """Users log in through our own form (no host-supplied hook)."""
        return self.hook is None

    @property
    def has_users(self) -> bool:
        return bool(self._tokens)

    def user_for_token(self, token: str) -> str | None:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            return None
        digest = _digest(token)
        found = None
        for known, user in self._tokens:  # no early exit: the time does not tell which matched
            if hmac.compare_digest(known, digest):
                found = user
        return found

    def identify(self) -> Identity | None:
        token = bearer_token()
        if token:
            user = self.user_for_token(token)
            if user is None:
                raise Unauthorized("the API token is not known; check the Authorization: Bearer header")
            return self._identity(user, "token")
        if self.hook is not None:
            name = _hook_name(self.hook())
            return self._identity(name, "hook") if name else None
        name, key = session.get(SESSION_USER), session.get(SESSION_KEY)
        if isinstance(name, str) and isinstance(key, str) and self._fingerprints.get(key) == name:
            return self._identity(name, "session")
        return None

    def _identity(self, name: str, via: str) -> Identity:
        return Identity(name=name, via=via, admin=name in self.admins)

    def require(self) -> Identity:
        who = self.identify()
        if who is None:
            raise Unauthorized("log in first (or send Authorization: Bearer <your token>)")
        if request.method in UNSAFE_METHODS and who.via != "token":
            self.check_csrf()
        return who

    # -- standalone login ------------------------------------------------------------------------
    def login(self, token: str) -> str | None:
        user = self.user_for_token(token)
        if user is None:
            return None
        session.clear()  # no session fixation: a fresh session (and CSRF token) per login
        session[SESSION_USER] = user
        session[SESSION_KEY] = fingerprint(token)
        session[SESSION_CSRF] = secrets.token_urlsafe(24)
        return user

    @staticmethod
    def logout() -> None:
        session.clear()

    # -- CSRF ------------------------------------------------------------------------------------
    @staticmethod
    def csrf_token() -> str:
        token = session.get(SESSION_CSRF)
        if not isinstance(token, str) or not token:
            token = secrets.token_urlsafe(24)
            session[SESSION_CSRF] = token
        return token

    @staticmethod
    def check_csrf() -> None:
        expected = session.get(SESSION_CSRF)
        supplied = request.headers.get(CSRF_HEADER) or ""
        if not supplied and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            supplied = request.form.get(CSRF_FIELD, "")
        if not isinstance(expected, str) or not expected or not hmac.compare_digest(
                supplied.encode("utf-8", "replace"), expected.encode("utf-8")):
            raise CSRFError("the form's security token is missing or stale: reload the page and try again")
