"""``doctor``'s notification check: each webhook's recent failures and stuck deliveries.

Read from the outbox (store/notify.py), so it shows what the delivery worker of any process saw.
It calls nothing: ``island-ssh notify test`` does that.
"""

from __future__ import annotations

from island_ssh.core.errors import IslandError
from island_ssh.core.notify_payload import redact_url
from island_ssh.service.check import OK, WARN, Check

LAST_FAILURES = 3
STUCK_AFTER = 600
"""Seconds a notification may wait before doctor says no worker seems to deliver."""


def check_notifications(settings) -> Check:
    hooks = settings.notify.webhooks
    if not hooks:
        return Check("notifications", OK, "off (no notify.webhooks configured)")
    from island_ssh.store import Store
    from island_ssh.store.notify import NotifyStore
    try:
        with Store(settings.database) as store:
            outbox = NotifyStore(store)
            summary = outbox.summary()
            failures = {h.name: outbox.recent(LAST_FAILURES, webhook=h.name, state="failed") for h in hooks}
            delivered = {h.name: outbox.recent(1, webhook=h.name, state="delivered") for h in hooks}
    except IslandError as exc:
        return Check("notifications", WARN, f"{len(hooks)} webhook(s); their deliveries cannot be read: {exc.message}")
    problems, fine = [], []
    for h in hooks:
        counts = summary.get(h.name, {})
        failed, last_ok = failures[h.name], delivered[h.name]
        oldest = counts.get("oldest_pending_seconds")
        stuck = oldest is not None and oldest > STUCK_AFTER
        if failed and not (last_ok and last_ok[0].updated_at > failed[0].updated_at):
            last = "; ".join(f"{r.updated_at:%m-%d %H:%M} {r.event} island {r.island_id or '-'}: {r.last_error}"
                             for r in failed)
            problems.append(f"{h.name} ({redact_url(h.url)}): {counts.get('failed', len(failed))} failed, "
                            f"latest: {last}")
        elif not stuck:
            earlier = f"; {counts.get('failed', 0)} failed before the latest delivery" if failed else ""
            fine.append(f"{h.name} ({counts.get('delivered', 0)} delivered{earlier})")
        if stuck:
            problems.append(f"{h.name}: {counts.get('pending', 0)} waiting, the oldest for {oldest} s; the web app "
                            f"delivers them: is it running? (island-ssh notify list)")
    if problems:
        return Check("notifications", WARN, " | ".join(problems) + " -- try: island-ssh notify test")
    return Check("notifications", OK, ", ".join(fine))
