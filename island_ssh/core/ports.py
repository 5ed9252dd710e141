"""Port arithmetic: which three host ports belong to which island id.

Pure: no I/O. Island N owns ``port_start + per_island*N`` and the two ports after it
(id 269 -> 30807, 30808, 30809, as in the seed's Pod). ``per_island`` may exceed 3 to leave
gaps, never be below 3, or two islands would share a port.
"""

from __future__ import annotations

from island_ssh.core.errors import ConfigError, InvalidInput

PORTS_USED = 3
"""Ports an island listens on: app-common-port, remote-msg-port, server-port."""
MAX_PORT = 65535


def _check_layout(port_start: int, per_island: int) -> None:
    if per_island < PORTS_USED:
        raise ConfigError(
            f"islands.ports_per_island={per_island}: must be at least {PORTS_USED} "
            "(each island listens on 3 ports); set it to 3"
        )
    if not 1 <= port_start <= MAX_PORT - PORTS_USED + 1:
        raise ConfigError(
            f"islands.port_start={port_start}: must be between 1 and {MAX_PORT - PORTS_USED + 1}; "
            "the seed uses 30000"
        )


def ports_for(island_id: int, port_start: int = 30000, per_island: int = 3) -> tuple[int, int, int]:
    """The (app-common, remote-msg, server) host ports of ``island_id``."""
    _check_layout(port_start, per_island)
    if isinstance(island_id, bool) or not isinstance(island_id, int):
        raise InvalidInput(f"island id: expected an integer, got {island_id!r}")
    highest = max_island_id(port_start, per_island)
    if not 0 <= island_id <= highest:
        raise InvalidInput(
            f"island id {island_id}: outside 0..{highest}, the ids whose ports fit below {MAX_PORT + 1}"
        )
    base = port_start + per_island * island_id
    return base, base + 1, base + 2


def max_island_id(port_start: int = 30000, per_island: int = 3) -> int:
    """The highest island id whose last port is still <= 65535."""
    _check_layout(port_start, per_island)
    return (MAX_PORT - (PORTS_USED - 1) - port_start) // per_island


def validate_range(id_min: int, id_max: int, port_start: int = 30000, per_island: int = 3) -> None:
    """Raise ConfigError, saying which setting to change, unless every id in the range gets valid ports."""
    _check_layout(port_start, per_island)
    if id_min < 0:
        raise ConfigError(f"islands.id_min={id_min}: must be 0 or more")
    if id_min > id_max:
        raise ConfigError(f"islands.id_min={id_min} is above islands.id_max={id_max}; swap or fix them")
    highest = max_island_id(port_start, per_island)
    if id_max > highest:
        last = port_start + per_island * id_max + PORTS_USED - 1
        raise ConfigError(
            f"islands.id_max={id_max} would use port {last} > {MAX_PORT}: lower islands.id_max to "
            f"{highest} or less, or lower islands.port_start "
            f"(at most {MAX_PORT - (PORTS_USED - 1) - per_island * id_max}) or islands.ports_per_island"
        )


def island_for_port(port: int, port_start: int = 30000, per_island: int = 3) -> int | None:
    """The island id owning host ``port``, or None when no island uses it."""
    _check_layout(port_start, per_island)
    offset = port - port_start
    if offset < 0 or port > MAX_PORT:
        return None
    island_id, slot = divmod(offset, per_island)
    if slot >= PORTS_USED or island_id > max_island_id(port_start, per_island):
        return None
    return island_id
