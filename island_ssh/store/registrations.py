"""The registration call of a starting container: token check, upsert, event, in one transaction.

A pod proves it is the island's pod with the per-island token it was launched with; only the
token's sha256 is stored (core.tokens.hash_token), compared in constant time. The registration
table's name comes from configuration and is passed in already checked and backquoted.
"""

from __future__ import annotations

import hmac
import secrets

from island_ssh.core.errors import IslandNotFound, PermissionDenied
from island_ssh.core.tokens import hash_token
from island_ssh.store.islands import append_event
from island_ssh.store.rows import FREE_STATE, MAX_POD_NAME, RegistrationResult, RegistrationRow, check_ip, check_ports, check_text

_MAX_TOKEN = 4096


def new_token() -> str:
    """A fresh per-island registration token (give it to the pod; store only hash_token(token)).

    The one maker of island tokens (launch, restart, recovery's adopt): 24 random bytes, 32
    URL-safe characters, inside what ``core.manifests`` accepts (16..256).
    """
    return secrets.token_urlsafe(24)


def register(cur, table: str, island_id: int, token: str, node_ip: str, ports, pod_name: str) -> RegistrationResult:
    # Authenticate before looking at the fields: a caller without the token learns nothing more.
    cur.execute(
        "SELECT state, generation, token_hash, UTC_TIMESTAMP(6) AS now FROM islands WHERE island_id = %s FOR UPDATE",
        (island_id,),
    )
    row = cur.fetchone()
    if row is None or row["generation"] == 0 or row["state"] == FREE_STATE:
        raise IslandNotFound(
            f"island {island_id} does not exist or was deleted: a pod registering for it is stale and should be deleted",
            island_id=island_id,
        )
    if not _token_matches(token, row["token_hash"]):
        raise PermissionDenied(
            f"registration token for island {island_id} does not match: the pod must send the token it was "
            f"launched with (ISLAND_TOKEN in its environment)",
            island_id=island_id,
        )
    node_ip = check_ip("node_ip", node_ip)
    ports_text = check_ports(ports)
    pod_name = check_text("pod_name", pod_name, MAX_POD_NAME, required=True)
    now = row["now"]
    cur.execute(
        f"INSERT INTO {table} (island_id, node_ip, ports, pod_name, registered_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE node_ip = VALUES(node_ip), "
        "ports = VALUES(ports), pod_name = VALUES(pod_name), updated_at = VALUES(updated_at)",
        (island_id, node_ip, ports_text, pod_name, now, now),
    )
    created = cur.rowcount == 1  # MySQL reports 1 for an insert, 2 for an update
    append_event(cur, island_id, row["generation"], now, row["state"], row["state"], "Registered",
                 f"{pod_name} on {node_ip}, ports {ports_text}")
    return RegistrationResult(
        island_id=island_id, generation=row["generation"], state=row["state"], created=created,
        registration=registration(cur, table, island_id),
    )


def _token_matches(token, token_hash: str | None) -> bool:
    if not token_hash or not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


def registration(cur, table: str, island_id: int) -> RegistrationRow | None:
    cur.execute(f"SELECT * FROM {table} WHERE island_id = %s", (island_id,))
    row = cur.fetchone()
    return RegistrationRow.from_db(row) if row else None


def delete_registration(cur, table: str, island_id: int) -> bool:
    cur.execute(f"DELETE FROM {table} WHERE island_id = %s", (island_id,))
    return cur.rowcount > 0


def orphan_registrations(cur, table: str) -> list[RegistrationRow]:
    """Registration rows whose island is absent, never used or deleted."""
    cur.execute(
        f"SELECT r.* FROM {table} r LEFT JOIN islands i ON i.island_id = r.island_id "
        "WHERE i.island_id IS NULL OR i.generation = 0 OR i.state = %s ORDER BY r.island_id",
        (FREE_STATE,),
    )
    return [RegistrationRow.from_db(r) for r in cur.fetchall()]
