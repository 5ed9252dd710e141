"""Island id allocation: the lowest free id in [id_min, id_max], made safe by the database alone.

How: every id of the range has a row ("slot"), created in bulk before first use; a free id is a
row in state ``deleted`` (generation 0 = never used). An allocation takes, in one transaction,

    SELECT ... WHERE state = 'deleted' AND island_id BETWEEN ... ORDER BY island_id LIMIT 1
    FOR UPDATE SKIP LOCKED

and turns that row into ``allocated`` with the next generation. Concurrent allocators (threads
or processes, on any host) each lock a different row instead of queueing on the same one, so
they neither collide nor wait; the row lock is what guarantees that no id is handed out twice.
The alternative (insert the next absent id, catch duplicate-key, retry) makes every concurrent
allocator wait for the winner's commit and then retry: a burst of N turns into N rounds.

When SKIP LOCKED finds nothing, the free rows may only be locked by allocations still in
flight (which may roll back), so one blocking pass follows before declaring exhaustion.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Callable, Mapping

from island_ssh.core.settings import IslandSettings
from island_ssh.core.errors import AllocationError, ConfigError
from island_ssh.core.identity import validate_user_id
from island_ssh.core.ports import ports_for, validate_range
from island_ssh.store.rows import (
    FREE_STATE, MAX_BRANCH, MAX_OWNER, MAX_POD_NAME, IslandRow, check_text, check_token_hash, overrides_json, utc,
)

_SLOT_BATCH = 500
_MAX_RANGE = 100_000


def island_ports(island_id: int, settings: IslandSettings) -> tuple[int, int, int]:
    return ports_for(island_id, settings.port_start, settings.ports_per_island)


def check_id_range(settings: IslandSettings) -> tuple[int, int]:
    lo, hi = settings.id_min, settings.id_max
    validate_range(lo, hi, settings.port_start, settings.ports_per_island)
    if hi - lo + 1 > _MAX_RANGE:
        raise ConfigError(f"islands.id_min..id_max spans {hi - lo + 1} ids; at most {_MAX_RANGE} are supported")
    return lo, hi


def count_slots(cur, id_min: int, id_max: int) -> int:
    cur.execute("SELECT COUNT(*) AS n FROM islands WHERE island_id BETWEEN %s AND %s", (id_min, id_max))
    return cur.fetchone()["n"]


def ensure_slots(cur, id_min: int, id_max: int) -> int:
    """Create the missing free rows of the range; return how many were created."""
    if count_slots(cur, id_min, id_max) == id_max - id_min + 1:
        return 0
    cur.execute("SELECT island_id FROM islands WHERE island_id BETWEEN %s AND %s", (id_min, id_max))
    present = {row["island_id"] for row in cur.fetchall()}
    missing = [i for i in range(id_min, id_max + 1) if i not in present]
    for start in range(0, len(missing), _SLOT_BATCH):
        # IGNORE: another process may be creating the same slots right now
        cur.executemany(
            "INSERT IGNORE INTO islands (island_id, generation, state) VALUES (%s, 0, 'deleted')",
            [(i,) for i in missing[start:start + _SLOT_BATCH]],
        )
    return len(missing)


def _lock_free_row(cur, id_min: int, id_max: int, skip_locked: bool) -> dict | None:
    cur.execute(
        "SELECT island_id, generation, UTC_TIMESTAMP(6) AS now FROM islands FORCE INDEX (islands_state) "
        "WHERE state = %s AND island_id BETWEEN %s AND %s ORDER BY island_id LIMIT 1 FOR UPDATE"
        + (" SKIP LOCKED" if skip_locked else ""),
        (FREE_STATE, id_min, id_max),
    )
    return cur.fetchone()


def allocate_island(
    cur,
    *,
    owner: str,
    branch: str,
    pod_name_fn: Callable[[int], str],
    overrides: Mapping[str, Any] | None,
    token_hash: str,
    settings: IslandSettings,
    owner_id: str | None = None,
    lease_seconds: float | None = None,
) -> IslandRow:
    """Claim the lowest free id inside the caller's transaction; see the module docstring.

    ``lease_seconds``: the island's lease from now (the database's clock); None leaves it without
    one (adopted pods): the lease reaper gives those islands.lease_default.

    ``owner_id``: the owner's stable user id (what permission checks compare); None takes the
    display name ``owner`` as the id (the operator's CLI without --owner-id, adopted pods of old)."""
    lo, hi = check_id_range(settings)
    owner = check_text("owner", owner, MAX_OWNER, required=True)
    owner_id = owner if owner_id is None else validate_user_id(owner_id)
    branch = check_text("branch", branch, MAX_BRANCH, required=True)
    token_hash = check_token_hash(token_hash)
    overrides_text = overrides_json(overrides)

    row = _lock_free_row(cur, lo, hi, skip_locked=True) or _lock_free_row(cur, lo, hi, skip_locked=False)
    if row is None:
        cur.execute("SELECT COUNT(*) AS n FROM islands WHERE island_id BETWEEN %s AND %s AND state <> %s",
                    (lo, hi, FREE_STATE))
        in_use = cur.fetchone()["n"]
        raise AllocationError(
            f"no free island id in {lo}..{hi}: {in_use} of {hi - lo + 1} in use; delete islands that are no "
            f"longer needed, or widen islands.id_min/id_max in conf/island.yaml"
        )
    island_id, now = row["island_id"], row["now"]
    generation = row["generation"] + 1
    pod_name = check_text("pod name", pod_name_fn(island_id), MAX_POD_NAME, required=True)
    port_base = island_ports(island_id, settings)[0]
    lease_end = now + timedelta(seconds=float(lease_seconds)) if lease_seconds is not None else None
    cur.execute(
        "UPDATE islands SET generation = %s, state = 'allocated', reason = 'Allocated', message = '', "
        "pod_name = %s, owner = %s, owner_id = %s, branch = %s, node = NULL, host_ip = NULL, port_base = %s, "
        "clock_offset_seconds = NULL, clock_setting = NULL, overrides = %s, token_hash = %s, "
        "resource_version = NULL, created_at = %s, updated_at = %s, state_since = %s, ready_at = NULL, "
        "deleted_at = NULL, lease_expires_at = %s, lease_warned_at = NULL WHERE island_id = %s",
        (generation, pod_name, owner, owner_id, branch, port_base, overrides_text, token_hash,
         now, now, now, lease_end, island_id),
    )
    cur.execute(
        "INSERT INTO island_events (island_id, generation, `at`, from_state, to_state, reason, message) "
        "VALUES (%s, %s, %s, NULL, 'allocated', 'Allocated', %s)",
        (island_id, generation, now, f"{owner} on {branch}"),
    )
    # Built from what was written rather than read back: one round trip less per allocation.
    return IslandRow(
        island_id=island_id, generation=generation, state="allocated", reason="Allocated", message="",
        pod_name=pod_name, owner=owner, branch=branch, node=None, host_ip=None, port_base=port_base,
        clock_offset_seconds=None, clock_setting=None, overrides=json.loads(overrides_text) if overrides_text else {},
        token_hash=token_hash, resource_version=None, created_at=utc(now), updated_at=utc(now),
        state_since=utc(now), ready_at=None, deleted_at=None, owner_id=owner_id,
        lease_expires_at=utc(lease_end),
    )
