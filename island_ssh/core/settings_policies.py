"""Settings sections of the clock (issue 13), notifications and quotas (issue 14): frozen
dataclasses, a docstring per field, as in ``core/settings.py`` (which re-exports them). Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field


def _default_presets() -> dict[str, str]:
    return {"daily-reset": "next 05:00 - 10s", "weekly-reset": "next Monday 05:00 - 10s"}


@dataclass(frozen=True)
class ClockSettings:
    """The islands' clocks (issue 13): the studio's time zone, named presets, the read-back bound."""

    timezone: str = "UTC"
    """IANA time zone name (``Asia/Shanghai``) that wall times typed by users and presets such as
    ``next 05:00`` mean; checked with zoneinfo at config load."""
    presets: dict[str, str] = field(default_factory=_default_presets)
    """Name -> clock expression, one click in the page, ``island-ssh clock ID --preset NAME``.
    Names are letters, digits and dashes; expressions are what the clock box accepts."""
    readback_tolerance: float = 0.5
    """Seconds the island's read-back may differ from what was asked, beyond the time the read
    itself took (core.clock_files.judge_reading); a change further off is refused (ClockNotTaken)
    and the previous clock written back."""
    timeline_poll: float = 2.0
    """Seconds at most between two looks of a service's timeline runner at MySQL (timelines started
    by other processes); a step is applied at its due time, this only bounds discovering it."""
    lock_wait: float = 30.0
    """Seconds a clock change waits for another change of the same island to finish (MySQL named
    lock, so across processes) before it is refused with "try again"."""


@dataclass(frozen=True)
class WebhookSettings:
    """One notification endpoint (``notify.webhooks``). Operator config: the URL is called from
    the web app's host, so only whoever writes this file chooses where notifications go."""
    name: str = ""
    """Unique; shown in doctor, the logs and /api/notifications (1-64 letters, digits, . _ -)."""
    url: str = ""
    """http:// or https:// only; redirects are never followed. Its query is hidden when shown."""
    preset: str = "json"
    """wecom | dingtalk | feishu | slack | json: the body when ``template`` is empty, and how a
    200 answer is judged (WeCom/DingTalk errcode, Feishu code must be 0)."""
    events: list[str] = field(default_factory=list)
    """ready, failed, lease-warning, expired, deleted-by-other, idle; empty = all of them."""
    template: str = ""
    """JSON (placeholders substituted inside its strings, JSON-safely) or plain text; placeholders
    {event} {text} {island_id} {owner} {reason} {message} ... (README "Notifications")."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra request headers (Authorization: ...); one-line values."""
    timeout: float = 5.0
    """Seconds one call may take in all (connect, send, answer); then it counts as failed."""
    secret: str = ""
    """DingTalk's or Feishu's signing secret (their "sign" security setting): each call is signed
    with it. Only for those presets; keep it in the environment (ISLAND_SSH_NOTIFY_WEBHOOKS)."""


@dataclass(frozen=True)
class NotifySettings:
    webhooks: list[WebhookSettings] = field(default_factory=list)
    """The endpoints; empty (the default) turns notifications off entirely."""
    attempts: int = 6
    """Calls per notification at most (the first and its retries); then it is recorded as failed."""
    backoff: float = 2.0
    """Seconds before the first retry; doubles each retry up to backoff_max."""
    backoff_max: float = 300.0
    concurrency: int = 4
    """Calls in flight at once (one delivery worker per database, across processes)."""
    max_response_bytes: int = 65536
    """Bytes of an answer read at most; the rest is never read."""
    poll_interval: float = 1.0
    """Seconds between the worker's looks at new island events and due retries."""
    retention: float = 7 * 86400.0
    """Seconds delivered and failed notifications are kept (doctor and the API show them)."""
    page_url: str = ""
    """The web app's address as users open it (https://islands.example.com); when set, each
    notification links the island's page. Empty: no link."""
    lock_name: str = "island_ssh.notify"
    """MySQL named lock: one delivery worker per database acts at a time."""


@dataclass(frozen=True)
class QuotaLimit:
    """One override (``quotas.users.<user id>`` or ``quotas.groups.<group>``); unset fields fall
    back to the group's, then the default (core/quota.py)."""
    max_islands: int | None = None
    """Islands the owner may hold at once (0: none); null: not set here."""
    max_memory: str | None = None
    """Total memory request of the owner's islands, a quantity like 6Gi; null/"": not set here."""
    unlimited: bool = False
    """True: no limit at all for this user (or every member of this group)."""


@dataclass(frozen=True)
class QuotaSettings:
    max_islands: int | None = None
    """Default islands per owner (not deleted: failed and lost ones count); null: no limit."""
    max_memory: str | None = None
    """Default total memory request per owner, e.g. 6Gi; null or "": no limit."""
    users: dict[str, QuotaLimit] = field(default_factory=dict)
    """Per-user overrides by user id (the owner_id, not the display name)."""
    groups: dict[str, QuotaLimit] = field(default_factory=dict)
    """Per-member limits for the host app's groups (User.groups); in several, the most generous."""
    admins_exempt: bool = True
    """Admins' own islands are not limited (an admin launching FOR someone counts against them)."""
    lock_wait: float = 10.0
    """Seconds a launch waits for the same owner's concurrent launch (MySQL named lock per owner)."""
