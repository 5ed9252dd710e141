"""Who is asking, and is the form post really theirs (CSRF).

Three ways in, tried in this order:
- ``Authorization: Bearer <token>`` with a token from WebSettings.users: scripts and the
  table-import app's server calling the API. No cookie is involved, so no CSRF check.
- the ``current_user`` hook the host app supplies (embedding): returns the logged-in user as a
  ``User(id, name)`` (island_ssh.core.identity) or an ``(id, name)`` pair; a plain name is still
  accepted, as both id and name, with a DeprecationWarning.
- standalone: the session cookie set by the login form (token typed once, user id kept in the signed
  session with a fingerprint of the token, so a token removed from the config logs its user out).

Standalone, WebSettings.users maps a token to a user id, which is also the name shown. Admins are
the ids in WebSettings.admins (or a hook's User with is_admin): a display name grants nothing.

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
from island_ssh.core.identity import User, as_user

from island_ssh_web.ratelimit import FailureLimiter

SESSION_USER = "island_ssh.user"
SESSION_KEY = "island_ssh.key"
SESSION_CSRF = "island_ssh.csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_TOKEN = 4096
MIN_SECRET = 32
"""Characters an API token or the session key must have at least (32 of token_urlsafe: 192 bits)."""
MAKE_SECRET = "python -c \"import secrets; print(secrets.token_urlsafe(32))\""


def check_secret(value: str, what: str) -> None:
    """ConfigError when a configured secret is shorter than MIN_SECRET. The message names the
    setting (``what``), never the value."""
    if len(value) < MIN_SECRET:
        raise ConfigError(f"{what} has {len(value)} characters; at least {MIN_SECRET} are needed so it cannot be "
                          f"guessed. Make one with: {MAKE_SECRET}")


class Unauthorized(IslandError):
    """No user: log in (the page) or send a token (the API)."""

    cli_exit = 5  # not allowed, as PermissionDenied
    http_status = 401


class CSRFError(PermissionDenied):
    """A cookie-borne change without the page's CSRF token."""


@dataclass(frozen=True)
class Identity:
    name: str
    """Display name: shown, and the default owner name of a launch; never compared."""
    via: str
    """"token", "hook" or "session"."""
    admin: bool = False
    id: str = ""
    """Stable user id: what ownership and admin checks compare."""
    groups: tuple[str, ...] = ()
    """The host app's groups of the user (quotas.groups); () standalone."""

    @property
    def user(self) -> User:
        return User(id=self.id, name=self.name, is_admin=self.admin, groups=self.groups)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def fingerprint(token: str) -> str:
    return hashlib.sha256(b"island_ssh.session:" + _digest(token)).hexdigest()[:32]


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return ""


class Auth:
    def __init__(self, users: dict[str, str], admins, current_user: Callable[[], object] | None = None,
                 limiter: FailureLimiter | None = None) -> None:
        for token, user in (users or {}).items():
            check_secret(str(token), f"web.users: the token of {str(user)[:64]!r}")
        self.limiter = limiter
        """Counts unknown tokens per client address (login form and Bearer header alike)."""
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
            user = self.checked_token(token)
            if user is None:
                raise Unauthorized("the API token is not known; check the Authorization: Bearer header")
            return self._identity(user, "token")
        if self.hook is not None:
            user = as_user(self.hook(), stacklevel=3)
            return self._identity(user, "hook") if user is not None else None
        name, key = session.get(SESSION_USER), session.get(SESSION_KEY)
        if isinstance(name, str) and isinstance(key, str) and self._fingerprints.get(key) == name:
            return self._identity(name, "session")
        return None

    def _identity(self, user: User | str, via: str) -> Identity:
        # a token's or session's user is an id standing for the name too (standalone has no other)
        user = user if isinstance(user, User) else User(id=user, name=user)
        return Identity(name=user.name, via=via, admin=user.is_admin or user.id in self.admins, id=user.id,
                        groups=user.groups)

    def require(self) -> Identity:
        who = self.identify()
        if who is None:
            raise Unauthorized("log in first (or send Authorization: Bearer <your token>)")
        if request.method in UNSAFE_METHODS and who.via != "token":
            self.check_csrf()
        return who

    def checked_token(self, token: str) -> str | None:
        """user_for_token, counting a miss against the client's address; while the address is
        over the limit, RateLimited before the token is even looked at (see ratelimit.py)."""
        if self.limiter is None:
            return self.user_for_token(token)
        address = request.remote_addr or "unknown"
        self.limiter.check(address)
        user = self.user_for_token(token)
        if user is None:
            self.limiter.failed(address)
        return user

    # -- standalone login ------------------------------------------------------------------------
    def login(self, token: str) -> str | None:
        user = self.checked_token(token)
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
