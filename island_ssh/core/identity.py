"""Who a person is: a stable id (what permissions compare) and a display name (what pages show).

Two people may share a display name (two 王伟 in one studio), and anyone may pick a display name
equal to someone else's id; so ownership and admin rights are decided by ``User.id`` only, and
``User.name`` is never compared with anything. Pure: no I/O.

``as_user`` turns what an embedding app's ``current_user`` hook returns into a User. A bare string
is still accepted from hooks written before ids existed: it is taken as both id and name, with a
DeprecationWarning (the host app should return ``User(id, name)`` or an ``(id, name)`` pair).
"""

from __future__ import annotations

import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

from island_ssh.core.errors import ConfigError, InvalidField

USER_ID_MAX = 128
"""Characters; the islands.owner_id column (migration 0003) holds as many."""


@dataclass(frozen=True)
class User:
    id: str
    """Stable and unique per person (the host app's user id, or the standalone login's user)."""
    name: str
    """Shown on pages and in the API's ``owner``; may be shared by several people."""
    is_admin: bool = False
    """May act on every island. Also true when ``id`` is listed in web.admins."""
    groups: tuple[str, ...] = ()
    """The host app's groups of this user (a hook's ``.groups``), for quotas.groups; () if none."""


def validate_user_id(value: object, field: str = "owner_id") -> str:
    """An opaque id, compared exactly (no normalisation, no stripping): 1..128 characters with no
    control characters, no lone surrogates and no leading or trailing white space."""
    if not isinstance(value, str):
        raise InvalidField(field, f"expected text, got {type(value).__name__}")
    if not value.strip():
        raise InvalidField(field, "is empty")
    if value != value.strip():
        raise InvalidField(field, "starts or ends with white space")
    if len(value) > USER_ID_MAX:
        raise InvalidField(field, f"{len(value)} characters; at most {USER_ID_MAX}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(field, "contains a lone surrogate (broken UTF-16 input)") from None
    for char in value:
        if unicodedata.category(char)[0] == "C":
            raise InvalidField(field, f"contains a control character (U+{ord(char):04X})")
    return value


def _host_id(value: str) -> str:
    # a bad id is the host app's bug, not the visitor's: a 500 naming the hook, not a 400
    try:
        return validate_user_id(value, "user id")
    except InvalidField as exc:
        raise ConfigError(f"current_user returned a user whose {exc.message}") from None


def host_groups(value: Any) -> tuple[str, ...]:
    """A hook's ``groups`` (names or ids; a list, tuple or set) -> a tuple of text; anything else
    (None, a string, a mapping) gives no groups: a group grants quota, so nothing is guessed."""
    if not isinstance(value, (list, tuple, set, frozenset)):
        return ()
    return tuple(sorted({str(g)[:128] for g in value if isinstance(g, (str, int)) and not isinstance(g, bool)
                         and str(g)}))


def _legacy(name: str, stacklevel: int) -> User:
    warnings.warn("current_user returned a plain name; return island_ssh.core.identity.User(id, name) "
                  "(or an (id, name) pair): a name is taken as the user's id, so two people with one "
                  "name would share islands", DeprecationWarning, stacklevel=stacklevel)
    return User(id=_host_id(name), name=name)


def as_user(value: Any, *, stacklevel: int = 3) -> User | None:
    """What a current_user hook returned -> a User, or None for "nobody logged in".

    Accepted: a User; an (id, name) pair; an object with ``.id`` and ``.name`` (``is_admin``
    read if present); and, deprecated, a plain name string or an object with only ``.name`` /
    ``.username``. Anything else is the host app's mistake: ConfigError saying what to return."""
    if value is None or value == "":
        return None
    if isinstance(value, User):
        return User(_host_id(value.id), value.name, bool(value.is_admin), host_groups(value.groups))
    if isinstance(value, str):
        return _legacy(value, stacklevel + 1)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (str, int)) for v in value):
        user_id, name = (str(v) for v in value)
        return User(_host_id(user_id), name or user_id)
    user_id = getattr(value, "id", None)
    name = getattr(value, "name", None) or getattr(value, "username", None)
    if isinstance(user_id, (str, int)) and not isinstance(user_id, bool) and str(user_id):
        text = str(user_id)
        return User(_host_id(text), name if isinstance(name, str) and name else text,
                    getattr(value, "is_admin", False) is True, host_groups(getattr(value, "groups", ())))
    if user_id is None and isinstance(name, str) and name:
        return _legacy(name, stacklevel + 1)
    raise ConfigError("current_user must return island_ssh.core.identity.User(id, name), an (id, name) pair, "
                      "an object with .id and .name, or None")
