"""What the audit log hears from the tracker: only the ends it decides (failed, lost, timeout,
unschedulable) and pods deleted outside island_ssh, not every event."""

from __future__ import annotations

import logging

from island_ssh.core.names import FAILED_STATES

log = logging.getLogger("island_ssh.kube.tracker")


def audit_ends(store, stored: list) -> None:
    """Record each (row, transition) the store took that is such an end; a failing audit log
    is logged, never raised: the watch goes on whatever the audit log does."""
    record = getattr(store, "record_audit", None)
    for row, t in stored if record else ():
        action = t.to_state if t.to_state in FAILED_STATES else (
            "pod-gone" if t.to_state == "deleted" and row.state != "terminating" else None)
        if action is None:
            continue
        try:
            record("tracker", "", "", action, row.island_id, row.generation, f"{t.reason}: {t.message or ''}"[:500],
                   owner_id=row.owner_id or row.owner)
        except Exception as exc:  # noqa: BLE001
            log.warning("audit: could not record island %s %s: %s", row.island_id, action, exc)
