"""Island leases: every island ends at ``lease_expires_at``. Pure: durations, expiries, words.

A lease is typed as a duration: whole numbers with units, largest first, each unit once:
``8h``, ``90m``, ``2d``, ``1d12h``, ``3s``. At launch it is the island's life from now (empty:
``islands.lease_default``). An extension is either ``+4h`` (added to the current end) or ``8h``
(the island ends 8 h from now, which may also shorten it).

The maximum (``islands.lease_max``) counts from NOW, never from the launch: an island may be
extended again and again ("extend without changing the policy"), but never end further ahead
than lease_max from the moment of asking. A refusal says when the asked lease would end, where
the maximum is, and how much is still allowed.

Everything here takes ``now`` as an argument (an aware UTC datetime); nothing reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from island_ssh.core.errors import ConfigError, InvalidInput

UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
MAX_TEXT = 24
"""Longest duration text considered at all ('1d12h30m15s' is 11)."""
MAX_SECONDS = 100 * 366 * 86400
"""Beyond a century nothing is a lease (and dates would overflow): refused before any policy check."""
ACCEPTED = "whole numbers with units d, h, m, s, largest first, e.g. 8h, 90m, 2d, 1d12h"
_DURATION = re.compile(r"(?:([0-9]{1,6})d)?(?:([0-9]{1,6})h)?(?:([0-9]{1,6})m)?(?:([0-9]{1,6})s)?")


@dataclass(frozen=True)
class LeasePolicy:
    """The lease settings in seconds (``policy_from(IslandSettings)``)."""

    default: int
    maximum: int
    warning: int
    minimum: int = 60

    @property
    def max_text(self) -> str:
        return format_duration(self.maximum)


@dataclass(frozen=True)
class LeaseAsk:
    """A parsed lease text: ``seconds``, and whether it adds to the current end (``+4h``)."""

    seconds: int
    relative: bool
    text: str

    @property
    def shown(self) -> str:
        return ("+" if self.relative else "") + format_duration(self.seconds)


def _shown(text: str) -> str:
    """The user's text as a message may quote it: short, one line, control characters visible."""
    cut = text[:40] + ("..." if len(text) > 40 else "")
    return repr(cut)


def parse_duration(text, *, field: str = "lease", allow_relative: bool = True) -> LeaseAsk:
    """``8h`` / ``+4h`` (when ``allow_relative``) -> LeaseAsk; InvalidInput (one line) otherwise."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field}: expected text such as 8h, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{field}: {len(text)} characters; a lease is short: {ACCEPTED}")
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        raise InvalidInput(f"{field}: {_shown(text)} has a line break or control character; {ACCEPTED}")
    body = text.strip(" ")
    if not body:
        raise InvalidInput(f"{field}: empty; {ACCEPTED}")
    if not body.isascii():
        raise InvalidInput(f"{field}: {_shown(text)} has characters other than ASCII digits and the units d, h, m, s "
                           f"(full-width or other scripts' digits are not read); {ACCEPTED}")
    relative = body.startswith("+")
    if relative:
        if not allow_relative:
            raise InvalidInput(f"{field}: {_shown(text)}: a '+' only makes sense when extending; "
                               f"give the life from now, {ACCEPTED}")
        body = body[1:]
    if body.startswith("-"):
        raise InvalidInput(f"{field}: {_shown(text)} is negative; a lease only goes forward: {ACCEPTED}")
    match = _DURATION.fullmatch(body.lower())
    if not body or match is None or not any(match.groups()):
        hint = " (a number needs a unit)" if body.isdigit() else ""
        raise InvalidInput(f"{field}: {_shown(text)} is not a duration{hint}; {ACCEPTED}")
    seconds = sum(int(g) * size for g, (_, size) in zip(match.groups(), UNITS) if g)
    if seconds == 0:
        raise InvalidInput(f"{field}: {_shown(text)} is zero; a lease must last: {ACCEPTED}")
    if seconds > MAX_SECONDS:
        raise InvalidInput(f"{field}: {_shown(text)} is more than a century; far past any lease maximum")
    return LeaseAsk(seconds=seconds, relative=relative, text=body)


def format_duration(seconds: float) -> str:
    """Seconds -> the compact form users type: 90061 -> '1d1h1m1s', 5400 -> '1h30m', 0 -> '0s'."""
    left = max(0, int(seconds))
    parts = []
    for unit, size in UNITS:
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"


def format_utc(moment: datetime) -> str:
    """'2026-12-12 10:00 UTC' (seconds shown only when not zero)."""
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC")


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def policy_from(islands) -> LeasePolicy:
    """The policy of an IslandSettings (lease_default, lease_max, lease_warning, lease_min);
    ConfigError naming the setting when one is not a duration or they disagree."""
    values = {}
    for name in ("lease_default", "lease_max", "lease_warning", "lease_min"):
        text = getattr(islands, name, None)
        if text is None:
            values[name] = None
            continue
        try:
            values[name] = parse_duration(str(text), field=f"islands.{name}", allow_relative=False).seconds
        except InvalidInput as exc:
            raise ConfigError(exc.message) from None
    minimum = values["lease_min"] if values["lease_min"] is not None else 60
    policy = LeasePolicy(default=values["lease_default"] or 86400, maximum=values["lease_max"] or 7 * 86400,
                         warning=values["lease_warning"] or 1800, minimum=minimum)
    if not policy.minimum <= policy.default <= policy.maximum:
        raise ConfigError(f"islands.lease_default ({format_duration(policy.default)}) must lie between "
                          f"islands.lease_min ({format_duration(policy.minimum)}) and islands.lease_max "
                          f"({format_duration(policy.maximum)})")
    return policy


def launch_seconds(text: str | None, policy: LeasePolicy) -> int:
    """The lease a launch asks for, in seconds from its allocation (None or empty: the default)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return policy.default
    ask = parse_duration(text, field="lease", allow_relative=True)  # '+8h' at launch is 8 h too
    if ask.seconds > policy.maximum:
        raise InvalidInput(f"lease: {ask.shown} is past the {policy.max_text} maximum (islands.lease_max); "
                           f"at most {policy.max_text}")
    if ask.seconds < policy.minimum:
        raise InvalidInput(f"lease: {ask.shown} is shorter than the {format_duration(policy.minimum)} minimum "
                           f"(islands.lease_min)")
    return ask.seconds


def extended_expiry(island_id: int, text: str, current: datetime | None, now: datetime,
                    policy: LeasePolicy) -> tuple[datetime, LeaseAsk]:
    """The island's new end for ``extend <id> <text>``, or InvalidInput saying why not (past the
    maximum: when it would end, where the maximum is, and how much is still allowed)."""
    now = as_utc(now)
    ask = parse_duration(text, field="lease", allow_relative=True)
    base = max(as_utc(current), now) if (ask.relative and current is not None) else now
    new_end = base + timedelta(seconds=ask.seconds)
    limit = now + timedelta(seconds=policy.maximum)
    if new_end > limit:
        room = int((limit - base).total_seconds())
        if ask.relative:
            advice = (f"extend by at most +{format_duration(room)}" if room >= 1 else
                      "it already ends at the maximum; extend again later")
        else:
            advice = f"at most {policy.max_text} from now"
        raise InvalidInput(f"island {island_id}: {ask.shown} would end {format_utc(new_end)}, past the "
                           f"{policy.max_text} maximum ({format_utc(limit)}); {advice}", island_id=island_id)
    if new_end < now + timedelta(seconds=policy.minimum):
        raise InvalidInput(f"island {island_id}: {ask.shown} is shorter than the {format_duration(policy.minimum)} "
                           f"minimum (islands.lease_min)", island_id=island_id)
    return new_end, ask


def warn_at(expires_at: datetime, policy: LeasePolicy) -> datetime:
    """When the lease warning is due: lease_warning before the end."""
    return as_utc(expires_at) - timedelta(seconds=policy.warning)


def seconds_left(expires_at: datetime | None, now: datetime) -> float | None:
    if expires_at is None:
        return None
    return (as_utc(expires_at) - as_utc(now)).total_seconds()


def time_left_text(expires_at: datetime | None, now: datetime) -> str:
    """'3h12m' (two largest units), '45s', 'expired', or '-' when there is no lease."""
    left = seconds_left(expires_at, now)
    if left is None:
        return "-"
    if left <= 0:
        return "expired"
    text = format_duration(left)
    units = re.findall(r"[0-9]+[a-z]", text)
    return "".join(units[:2])


def lease_json(expires_at: datetime | None, warned_at: datetime | None, now: datetime) -> dict:
    """The ``lease`` object every face shows: end (ISO UTC), seconds and words left, warned."""
    left = seconds_left(expires_at, now)
    return {"expires_at": _iso(expires_at), "warned_at": _iso(warned_at),
            "seconds_left": None if left is None else max(0, int(left)),
            "time_left": time_left_text(expires_at, now)}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat().replace("+00:00", "Z")
