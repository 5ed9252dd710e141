"""Rows -> the JSON the API returns and the pages render. Pure: no I/O, no clock.

Secrets never leave here: the token hash is dropped, and of the extra environment a user gave
only the names are shown (values can hold passwords).
"""

from __future__ import annotations

from datetime import datetime, timezone

from island_ssh.core.clock_view import badge_of_setting
from island_ssh.core.idle import row_json as idle_row_json
from island_ssh.core.names import CONTAINERS, ISLAND_STATES, STATE_GROUPS


def vocabulary_json() -> dict:
    """The states, their groups and the containers, for GET /api/vocabulary and the pages' script
    (embedded in every page), so a script never keeps its own copy of core.names."""
    return {"states": list(ISLAND_STATES), "groups": {name: list(states) for name, states in STATE_GROUPS.items()},
            "containers": list(CONTAINERS)}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def may_change(row, user, admins) -> bool:
    """``user``: the asker (an Identity or User; a plain string is taken as an id). By id only:
    a namesake of the owner, or someone whose name is an admin's id, may not."""
    if user is None:
        return False
    user_id = user if isinstance(user, str) else user.id
    admin = not isinstance(user, str) and bool(getattr(user, "admin", False) or getattr(user, "is_admin", False))
    return admin or user_id in admins or (bool(row.owner_id) and user_id == row.owner_id)


def registration_json(reg) -> dict:
    if reg is None:
        return {"registered": False, "node_ip": None, "ports": [], "registered_at": None, "updated_at": None}
    return {"registered": True, "node_ip": reg.node_ip, "ports": list(reg.ports),
            "registered_at": iso(reg.registered_at), "updated_at": iso(reg.updated_at)}


def island_json(row, registration=None, user=None, admins=()) -> dict:
    ports = list(row.ports)
    overrides = row.overrides or {}
    env = overrides.get("env") or {}
    return {
        "id": row.island_id,
        "generation": row.generation,
        "name": row.pod_name,
        "owner": row.owner,
        "owner_id": row.owner_id,
        "branch": row.branch,
        "state": row.state,
        "reason": row.reason,
        "message": row.message,
        "node": row.node,
        "host_ip": row.host_ip,
        "ports": ports,
        "address": f"{row.host_ip}:{ports[0]}" if row.host_ip and ports else None,
        "clock": {"setting": row.clock_setting,
                  "offset_seconds": row.clock_offset_seconds if row.clock_offset_seconds is not None else 0,
                  "badge": badge_of_setting(row.clock_setting)},  # "", "frozen", "x10" (core.clock_view)
        "created_at": iso(row.created_at),
        "state_since": iso(row.state_since),
        "ready_at": iso(row.ready_at),
        "updated_at": iso(row.updated_at),
        "registration": registration_json(registration),
        "launch": {"start_time": overrides.get("start_time") or None, "memory": overrides.get("memory"),
                   "image": overrides.get("image"), "env_names": sorted(env)},
        "can_change": may_change(row, user, admins),
        # idle islands (core.idle): how long without an established connection on its ports, at the last check
        "idle": idle_row_json(row),
        # the API adds seconds/time left (island_ssh_web.api.island_out); the page counts down from expires_at
        "lease": {"expires_at": iso(getattr(row, "lease_expires_at", None)),
                  "warned_at": iso(getattr(row, "lease_warned_at", None))},
    }


def event_json(event) -> dict:
    return {
        "id": event.id,
        "island_id": event.island_id,
        "generation": event.generation,
        "at": iso(event.at),
        "from_state": event.from_state,
        "to_state": event.to_state,
        "reason": event.reason,
        "message": event.message,
    }


def feed_item_json(item, user=None, admins=()) -> dict:
    """One server-sent event: the stored event and the island as it is now (None once reused)."""
    island = item.island
    same = island is not None and island.generation == item.event.generation
    shaped = island_json(island, None, user, admins) if island is not None else None
    if shaped is not None:
        shaped["registration"] = None  # not read per event: unknown here; a Registered event tells
    return {"event": event_json(item.event), "island": shaped, "current": same}
