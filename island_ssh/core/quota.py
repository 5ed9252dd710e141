"""Quotas: how many islands, and how much memory request, one owner may hold (issue 14). Pure.

The limits of an owner (``limits_for``), field by field, the first that sets it:
  1. ``quotas.users[<user id>]`` (an admin's per-user override in the config);
  2. ``quotas.groups[<group>]`` of the groups the host app gives the user (``User.groups``); in
     several groups, the most generous one (``unlimited: true`` beats any number);
  3. ``quotas.max_islands`` / ``quotas.max_memory`` (the default; null / "" = no limit).
An admin (web.admins, or the host app's is_admin) is exempt when ``quotas.admins_exempt``.

Usage counts every island of the owner that is not ``deleted`` (failed and lost ones too: they
hold an id and ports until deleted); memory is the sum of their memory requests. A launch of N
islands is decided as a whole (``decide``): all of them fit or none is launched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from island_ssh.core.errors import ConfigError
from island_ssh.core.quantity import QuantityError, parse_quantity

GI = 2 ** 30
MI = 2 ** 20
MAX_ISLANDS_LIMIT = 100000
MAX_MEMORY_LIMIT = 2 ** 60  # 1Ei: anything above is a typo


@dataclass(frozen=True)
class Limits:
    max_islands: int | None
    """None: no limit."""
    max_memory: int | None
    """Bytes; None: no limit."""
    source: str = "default"
    """Where they come from: "default", "user u123", "group qa", "admin (exempt)"."""

    @property
    def unlimited(self) -> bool:
        return self.max_islands is None and self.max_memory is None


@dataclass(frozen=True)
class Usage:
    islands: int = 0
    memory: int = 0
    """Bytes of memory request."""


@dataclass(frozen=True)
class QuotaView:
    owner_id: str
    owner_name: str
    limits: Limits
    usage: Usage

    def line(self, you: bool = False) -> str:
        """"刘电波 has 3 of 3 islands (4.5Gi of 6Gi)"; ``you``: "you use 2 of 3 islands (3Gi of 6Gi)"."""
        n = self.usage.islands
        if self.limits.max_islands is None:
            islands = f"{n} island{'s' if n != 1 else ''} (no limit)"
        else:
            m = self.limits.max_islands
            islands = f"{n} of {m} island{'s' if m != 1 else ''}"
        memory = human_memory(self.usage.memory) + (
            f" of {human_memory(self.limits.max_memory)}" if self.limits.max_memory is not None else ", no memory limit")
        who = "you use" if you else f"{self.owner_name or self.owner_id} has"
        return f"{who} {islands} ({memory})"

    def as_dict(self) -> dict:
        lim = self.limits
        return {"owner_id": self.owner_id, "owner": self.owner_name,
                "islands": self.usage.islands, "max_islands": lim.max_islands,
                "memory": human_memory(self.usage.memory), "memory_bytes": self.usage.memory,
                "max_memory": human_memory(lim.max_memory) if lim.max_memory is not None else None,
                "max_memory_bytes": lim.max_memory, "source": lim.source, "unlimited": lim.unlimited,
                "text": self.line()}


def human_memory(n: int | None) -> str:
    """Bytes as people read a quota, exactly where it can: 4.5Gi, 6Gi, 1500Mi, 0 (at most two
    decimals; Gi when exact to two decimals, else Mi when exact, else Gi rounded)."""
    if n is None:
        return "no limit"
    if n == 0:
        return "0"

    def show(unit: int, suffix: str) -> str:
        return f"{n / unit:.2f}".rstrip("0").rstrip(".") + suffix

    if n >= GI and (n * 100) % GI == 0:
        return show(GI, "Gi")
    if n >= MI and (n * 100) % MI == 0 and n < 100 * GI:
        return show(MI, "Mi")
    if n >= GI:
        return show(GI, "Gi")
    if n >= MI:
        return show(MI, "Mi")
    if n >= 1024:
        return show(1024, "Ki")
    return str(n)


def memory_limit(value: object, key: str) -> int | None:
    """A configured memory limit: a quantity ("6Gi", "6000Mi"); null or "" = no limit."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(f"{key}: expected a memory quantity like 6Gi, or null for no limit; got {value!r}")
    try:
        size = parse_quantity(value)
    except QuantityError:
        raise ConfigError(f"{key}: {str(value)[:40]!r} is not a memory quantity like 6Gi or 6000Mi") from None
    if not 0 <= size <= MAX_MEMORY_LIMIT:
        raise ConfigError(f"{key}: {str(value)[:40]!r}; expected 0 to 1Ei (0 allows no memory at all)")
    return size


def island_limit(value: object, key: str) -> int | None:
    """A configured island count: 0 .. 100000 (0 = none allowed); null = no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ISLANDS_LIMIT:
        raise ConfigError(f"{key}: {value!r}; expected a whole number from 0 to {MAX_ISLANDS_LIMIT}, "
                          f"or null for no limit")
    return value


def check_settings(quotas) -> None:
    """Config load time: every limit parses (ConfigError naming the key otherwise)."""
    island_limit(quotas.max_islands, "quotas.max_islands")
    if isinstance(quotas.lock_wait, bool) or not isinstance(quotas.lock_wait, (int, float)) \
            or not 0 <= quotas.lock_wait <= 600:
        raise ConfigError(f"quotas.lock_wait: {quotas.lock_wait!r}; expected 0 to 600 seconds")
    memory_limit(quotas.max_memory, "quotas.max_memory")
    for section in ("users", "groups"):
        for name, lim in getattr(quotas, section).items():
            if not name or len(name) > 128:
                raise ConfigError(f"quotas.{section}: key {name[:40]!r} must be 1 to 128 characters")
            island_limit(lim.max_islands, f"quotas.{section}.{name}.max_islands")
            memory_limit(lim.max_memory, f"quotas.{section}.{name}.max_memory")


def _generous(values: Iterable[int | None]) -> int | None:
    values = list(values)
    return None if any(v is None for v in values) else max(values)


def limits_for(quotas, user_id: str, groups: Sequence[str] = (), is_admin: bool = False) -> Limits:
    """The owner's limits (see the module docstring for the order)."""
    if is_admin and quotas.admins_exempt:
        return Limits(None, None, "admin (exempt)")
    own = quotas.users.get(user_id)
    if own is not None and own.unlimited:
        return Limits(None, None, f"user {user_id} (unlimited)")
    max_islands = island_limit(quotas.max_islands, "quotas.max_islands")
    max_memory = memory_limit(quotas.max_memory, "quotas.max_memory")
    source = "default"
    found = [(g, quotas.groups[g]) for g in dict.fromkeys(groups) if g in quotas.groups]
    if found:
        source = "group " + ", ".join(g for g, _ in found)
        if any(q.unlimited for _, q in found):
            max_islands = max_memory = None
        else:
            sets_islands = [island_limit(q.max_islands, f"quotas.groups.{g}.max_islands")
                            for g, q in found if q.max_islands is not None]
            sets_memory = [memory_limit(q.max_memory, f"quotas.groups.{g}.max_memory")
                           for g, q in found if q.max_memory not in (None, "")]
            if sets_islands:
                max_islands = _generous(sets_islands)
            if sets_memory:
                max_memory = _generous(sets_memory)
    if own is not None:
        source = f"user {user_id}"
        if own.max_islands is not None:
            max_islands = island_limit(own.max_islands, f"quotas.users.{user_id}.max_islands")
        if own.max_memory not in (None, ""):
            max_memory = memory_limit(own.max_memory, f"quotas.users.{user_id}.max_memory")
    return Limits(max_islands, max_memory, source)


def decide(view: QuotaView, requested: Sequence[int]) -> str | None:
    """None if launching islands with these memory requests (bytes, one per island) keeps the
    owner within the limits; else the one line saying why not, with the numbers."""
    if not requested:
        return None
    lim, use = view.limits, view.usage
    count, memory = len(requested), sum(requested)
    over = []
    if lim.max_islands is not None and use.islands + count > lim.max_islands:
        over.append(f"{count} more island{'s' if count != 1 else ''} would make {use.islands + count} "
                    f"(limit {lim.max_islands})")
    if lim.max_memory is not None and use.memory + memory > lim.max_memory:
        over.append(f"{human_memory(memory)} more memory would make {human_memory(use.memory + memory)} "
                    f"(limit {human_memory(lim.max_memory)})")
    if not over:
        return None
    return (f"{view.line()}; {' and '.join(over)}: delete islands first, or ask an admin to raise the quota "
            f"({lim.source})")
