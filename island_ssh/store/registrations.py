"""The registration call of a starting container: token check, binding checks, insert, event, in
one transaction.

A pod proves it is the island's pod with the per-island token it was launched with (from the
island's Secret); only the token's sha256 is stored (core.tokens.hash_token), compared in constant
time. What it registers must be the island's own facts, once per launch (issue 11). The
registration table's name comes from configuration and is passed in already checked and
backquoted.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata

from island_ssh.core.errors import InvalidInput, PermissionDenied, RegistrationRefused
from island_ssh.core.code_version import check_reported, shown as shown_version
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


REFUSED_STATES = ("terminating", "lost", "failed", FREE_STATE)
"""States in which no pod may register: its island is going, gone or given up on."""

REFUSED = ("registration refused: no island with this id accepts this token; a pod gets its token "
           "from its island's Secret, and a pod of a deleted or restarted island must be deleted")
"""The one answer to a wrong token, a free id, a never-used id and another generation's token:
a caller without the live token cannot tell which ids are in use (no id probing)."""

_DUMMY_HASH = hash_token("no island has this token")


def register(cur, table: str, island_id: int, token: str, node_ip: str, ports, pod_name: str,
             code_version: str | None = None) -> RegistrationResult:
    """Bind the calling pod to its island: once per generation, only with the island's own facts.

    Raises PermissionDenied (the one REFUSED answer) unless the token is the live generation's;
    then RegistrationRefused when the island is going or gone, when a fact differs from the
    row's (ports, pod name, the host IP the tracker saw), or when this generation already
    registered other facts. A repeat with the same facts answers as the first did, without a
    new event. Authenticate before looking at the fields: a caller without the token learns
    nothing more."""
    cur.execute(
        "SELECT state, generation, token_hash, pod_name, port_base, host_ip, UTC_TIMESTAMP(6) AS now "
        "FROM islands WHERE island_id = %s FOR UPDATE",
        (island_id,),
    )
    row = cur.fetchone()
    live = row is not None and row["generation"] != 0 and row["state"] != FREE_STATE
    # compare even when there is nothing to compare with: the answer takes as long either way
    matches = _token_matches(token, row["token_hash"] if live else _DUMMY_HASH)
    if not (live and matches):
        raise PermissionDenied(REFUSED)  # no island_id either: the body is the same for every id
    if row["state"] in REFUSED_STATES:
        raise RegistrationRefused(
            f"island {island_id} is {row['state']}: its pod may not register now; the pod is stale and "
            f"should be deleted", island_id=island_id)
    node_ip = check_ip("node_ip", _no_controls("node_ip", node_ip))
    ports_text = check_ports(_no_controls("ports", ports) if isinstance(ports, str) else ports)
    pod_name = check_text("pod_name", _no_controls("pod_name", pod_name), MAX_POD_NAME, required=True)
    if code_version is not None:
        code_version = check_reported(code_version)  # a version, "" or the unreadable marker only
    _check_facts(island_id, row, node_ip, ports_text, pod_name)
    existing = registration(cur, table, island_id)
    if existing is not None:
        # restart and delete remove the row: one that exists is this generation's
        if (existing.node_ip, ",".join(map(str, existing.ports)), existing.pod_name) != (node_ip, ports_text, pod_name):
            raise RegistrationRefused(
                f"island {island_id} already registered {existing.pod_name} on {existing.node_ip}, ports "
                f"{','.join(map(str, existing.ports))}; a registration is made once per launch", island_id=island_id)
        return RegistrationResult(island_id=island_id, generation=row["generation"], state=row["state"],
                                  created=False, registration=existing)
    now = row["now"]
    cur.execute(
        f"INSERT INTO {table} (island_id, node_ip, ports, pod_name, registered_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (island_id, node_ip, ports_text, pod_name, now, now),
    )
    if code_version is not None:  # what the entry script read (core.code_version, checked by the caller)
        cur.execute("UPDATE islands SET code_version = %s, code_version_at = %s, code_version_generation = %s "
                    "WHERE island_id = %s", (code_version, now, row["generation"], island_id))
    append_event(cur, island_id, row["generation"], now, row["state"], row["state"], "Registered",
                 f"{pod_name} on {node_ip}, ports {ports_text}"
                 + (f", code {shown_version(code_version)}" if code_version is not None else ""))
    return RegistrationResult(
        island_id=island_id, generation=row["generation"], state=row["state"], created=True,
        registration=registration(cur, table, island_id),
    )


def _check_facts(island_id: int, row, node_ip: str, ports_text: str, pod_name: str) -> None:
    """The pod must say what the island row already knows: it cannot claim another's ports or node."""
    base = row["port_base"]
    own_ports = ",".join(str(base + i) for i in range(3)) if base is not None else None
    wrong = []
    if own_ports is not None and ports_text != own_ports:
        wrong.append(f"ports {ports_text} (the island's are {own_ports})")
    if pod_name != (row["pod_name"] or ""):
        wrong.append(f"pod name {pod_name!r} (the island's is {row['pod_name']!r})")
    # known once the tracker has seen the pod scheduled; before that the pod's word is taken
    if row["host_ip"] and node_ip != row["host_ip"]:
        wrong.append(f"node IP {node_ip} (the tracker saw {row['host_ip']})")
    if wrong:
        raise RegistrationRefused(f"island {island_id}: registration refused, wrong " + "; ".join(wrong),
                                  island_id=island_id)


def _no_controls(field_name: str, value):
    """Control characters are refused in every field (they would reach logs, pages and terminals)."""
    if isinstance(value, str) and any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise InvalidInput(f"{field_name}: contains control characters")
    return value


def _token_matches(token, token_hash: str | None) -> bool:
    if not token_hash or not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


def registration(cur, table: str, island_id: int) -> RegistrationRow | None:
    cur.execute(f"SELECT * FROM {table} WHERE island_id = %s", (island_id,))
    row = cur.fetchone()
    return RegistrationRow.from_db(row) if row else None


def registrations_of(cur, table: str, island_ids) -> dict[int, RegistrationRow]:
    """island id -> its registration, for the ids that have one: one query for a page of islands."""
    ids = sorted({int(i) for i in island_ids})
    if not ids:
        return {}
    cur.execute(f"SELECT * FROM {table} WHERE island_id IN ({', '.join(['%s'] * len(ids))})", ids)
    return {int(r["island_id"]): RegistrationRow.from_db(r) for r in cur.fetchall()}


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
