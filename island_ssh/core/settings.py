"""Settings as small frozen dataclasses, one per section of ``conf/island.yaml``, a docstring per field.

Pure data: no file, environment or network is read here. ``island_ssh.config`` loads them (the
file, then ``ISLAND_SSH_<SECTION>_<FIELD>`` overrides); the core takes them as plain values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# the clock, notification and quota sections live in settings_policies (this file's size); here
# too, so every section is importable from one place
from island_ssh.core.settings_policies import (ClockSettings, NotifySettings, QuotaLimit,  # noqa: F401
                                               QuotaSettings, WebhookSettings)


@dataclass(frozen=True)
class SSHSettings:
    host: str = "127.0.0.1"
    """The Kubernetes master (the seed's "52 server")."""
    port: int = 22
    """sshd port on the master."""
    user: str = "islandmaster"
    """Login user on the master; its login shell must find kubectl and a kubeconfig."""
    key_file: str = "~/.ssh/id_ed25519"
    """Private key used for authentication (keys only, never passwords)."""
    known_hosts: str = "~/.ssh/known_hosts"
    """known_hosts file the master's host key is checked against; nothing is ever added."""
    connect_timeout: float = 10.0
    """Seconds to wait for TCP connect, SSH handshake and authentication."""
    keepalive_interval: float = 5.0
    """Seconds between SSH keepalive packets (0 disables)."""
    inactivity_timeout: float = 20.0
    """A connection that has produced no bytes for this long while a command waits is dead."""
    pool_size: int = 4
    """Persistent shell channels on the one connection, for commands that may run side by side.
    The master's sshd must grant pool_size + 1 sessions per connection (MaxSessions; + 1 for the
    watch), or a channel beyond its limit is refused with SessionLimitError."""
    user_read_channels: int = 1
    """How many of the pool_size channels users' reads (logs, logs -f) may hold at once; the
    other pool_size - user_read_channels are always there for the service's own work (applies,
    deletes, clock changes, relists). From 1 to pool_size."""
    user_read_wait: float = 5.0
    """Seconds a user read waits for one of its channels before it is refused (ReadChannelsBusy:
    HTTP 503 with Retry-After, CLI exit 7)."""
    command_timeout: float = 30.0
    """Default seconds a remote command may run."""


@dataclass(frozen=True)
class KubeSettings:
    kubectl: str = "kubectl"
    """kubectl command on the master (found on the login shell's PATH)."""
    namespace: str = "default"
    """Namespace the island pods live in."""
    delete_grace_period: int = 5
    """Seconds Kubernetes gives a pod's containers to stop on delete."""
    request_timeout: str = "20s"
    """kubectl --request-timeout for one-shot commands."""
    server_side_apply: str = "auto"
    """``auto`` | ``true`` | ``false``: apply manifests with ``kubectl apply --server-side
    --field-manager=island-ssh`` (conflicts with another manager's fields fail, never forced).
    auto = when the master's kubectl and its API server are both 1.22 or newer (asked once per
    connection). One PATCH per object where a client-side apply sends a GET and a POST, one
    after another: half the round trips of a launch burst. Objects applied client-side before
    are taken over (same values: shared ownership, no conflict)."""

    def __post_init__(self) -> None:
        # YAML reads true/false as booleans and the loader makes them "True"/"False"
        value = str(self.server_side_apply).lower()
        if value not in ("auto", "true", "false"):
            raise TypeError(f"server_side_apply must be auto, true or false, not {self.server_side_apply!r}")
        object.__setattr__(self, "server_side_apply", value)


@dataclass(frozen=True)
class DatabaseSettings:
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    """Prefer ISLAND_SSH_DATABASE_PASSWORD over writing it here."""
    name: str = "island_ssh"
    """Database (schema) holding the islands tables."""
    registration_table: str = "island_registrations"
    """Table the container's registration call writes (the studio's server list)."""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    """Seconds a query may take to answer."""
    write_timeout: float = 30.0
    lock_wait_timeout: int = 10
    """Seconds a transaction waits for a row lock (innodb_lock_wait_timeout) before failing."""


@dataclass(frozen=True)
class HostAlias:
    ip: str
    hostnames: list[str]


@dataclass(frozen=True)
class IslandSettings:
    id_min: int = 1
    """Lowest island id handed out."""
    id_max: int = 1000
    """Highest island id handed out; port_start + ports_per_island*id_max + 2 must be <= 65535
    (the default range holds 1,000 islands, ports 30003..33002; it was 999 before issue 16)."""
    port_start: int = 30000
    """Host ports of island N start at port_start + ports_per_island * N."""
    ports_per_island: int = 3
    branches: list[str] = field(default_factory=lambda: ["dev", "weekly"])
    """Allowed branches; each is a node label value (nodeSelector branch=...)."""
    default_branch: str = "dev"
    image: str = "bo602505401/jdk8-curl-libfaketime:latest"
    """Server container image (code comes from the shared volume, not the image)."""
    side_image: str = "alpine:3.14.1"
    """Idle side container image; it keeps the pod after the server exits."""
    images: list[str] = field(default_factory=lambda: ["bo602505401/jdk8-curl-libfaketime:latest"])
    """Server images a user may choose: exact references, or prefixes ending in '/' (a registry or
    repository: ``registry.studio.local/game/``). ``image`` is always allowed (core.pod_policy)."""
    admin_images: list[str] = field(default_factory=list)
    """More images (same form) that only admins may choose."""
    capabilities_add: list[str] = field(default_factory=list)
    """Linux capabilities added to the server container (the seed had NET_ADMIN and SYS_TIME);
    only a set that acts inside the pod is accepted: SYS_TIME, SYS_ADMIN, ALL are refused."""
    memory_request: str = "1500Mi"
    memory_limit: str = "2048Mi"
    memory_warning: float = 0.8
    """Resource use (issue 15): an island's server past this fraction of its memory limit is flagged
    (orange on the page, ``warning`` in the API); 0 < x <= 1."""
    usage_cache_seconds: float = 5.0
    """One metrics poll (`kubectl get --raw .../metrics.k8s.io/...`) for all islands serves every
    page and API read for this long."""
    entry_script: str = "/home/server/.island/entry.sh"
    """Path of conf/container/entry.sh inside the container (shipped on the code volume)."""
    server_command: str = "sh /home/server/start.sh"
    """What the entry script execs once registered (relative to the mounted code)."""
    debug_flag: str = "false"
    """Second argument of the seed's command line."""
    registration_url: str = "http://127.0.0.1:8080"
    """Address the container's entry script calls back (the seed's curlServer)."""
    code_claim: str = "server-pv-claim"
    code_mount: str = "/home/server"
    faketime_lib: str = "/usr/lib64/faketime/libfaketime.so.1"
    faketime_file: str = "/tmp/server-faketime.rc"
    faketime_cache_duration: int = 0
    """libfaketime's FAKETIME_CACHE_DURATION. It re-reads the clock file when the whole seconds since
    its last read exceed this (measured, 0.9.10): 0 re-reads at most once a second, so a change shows
    within 1 s; 1 within 2 s; its default 10 within 11 s. 0 costs the same as 1 (one file read per
    second per process, 10-12 M time calls/s either way); only FAKETIME_NO_CACHE=1 is slow (~80x)."""
    ready_timeout: float = 180.0
    """Seconds an island may take from apply to ready before it is marked timeout."""
    capacity_check: bool = True
    """Refuse a launch at once when no node of the branch has the memory free."""
    capacity_cache_seconds: float = 2.0
    apply_batch_max: int = 200
    """Launches arriving together share one batch of at most this many islands."""
    apply_parallel: int = 2
    """A batch goes to the API server as this many `kubectl apply` at once (parts of at least
    apply_part_min islands, each on its own SSH channel: keep it below ssh.pool_size)."""
    apply_part_min: int = 20
    host_aliases: list[HostAlias] = field(default_factory=list)
    """hostAliases written into every pod."""
    readiness_initial_delay: int = 15
    readiness_period: int = 5
    readiness_timeout: int = 10
    readiness_failure_threshold: int = 10
    log_limit_bytes: int = 1048576
    """Most bytes of an island's log one read returns (kubectl logs --limit-bytes; the answer says
    when it was cut), and the longest line and the most unread bytes a followed log (logs -f) holds."""
    lease_default: str = "24h"
    """How long an island lives when its launch names no lease (core.lease durations: 8h, 90m, 1d12h)."""
    lease_max: str = "7d"
    """The furthest ahead an island may end, counted from the moment of launching or extending
    (extending again later is allowed: the maximum moves with now, the policy does not change)."""
    lease_warning: str = "30m"
    """How long before its end an island's owner is warned (Notifier "lease-warning", its history)."""
    lease_min: str = "1m"
    """The shortest lease a launch or an extension may ask for (tests lower it to seconds)."""
    lease_check_interval: float = 30.0
    """Seconds between the lease reaper's passes in a long-running service (web, serve)."""
    idle_after: str = "2h"
    """An island whose game ports had no established TCP connection for this long is idle
    (core.idle says what counts; durations as leases: 2h, 90m, 30s). ``off`` turns the check off."""
    idle_expire: bool = False
    """Delete idle islands (reason IdleExpired): the "idle" warning first, then idle_grace later."""
    idle_grace: str = "30m"
    """With idle_expire: how long after the idle warning a still idle island is deleted."""
    idle_check_interval: str = "1m"
    """How often the idle check runs (once across all workers; the recover job runs it too)."""
    idle_probe_every: str = "auto"
    """How often each island is probed at most: idleness is noticed up to this late. ``auto``:
    max(idle_check_interval, idle_after / 12), 10 minutes at 2h; a run probes only the islands due
    (oldest first), so the master's kubectl execs follow islands / this, not islands x runs."""
    idle_batch_max: int = 50
    """Pods probed per remote command (one SSH command runs this many kubectl execs on the master)."""
    code_version_file: str = "VERSION"
    """The code's version file, relative to code_mount (README "Code version"): its first line (a
    commit hash, a build number; at most 128 characters) is what an island records at start."""
    code_version_check_interval: float = 60.0
    """Seconds the branches' current versions (the file as their nodes hold it now, read through
    one running island per node) are cached, across workers, before they are read again."""
    remains_dir: str = "/home/island-work"
    """The server's working directory: an emptyDir shared with the side container, which keeps it
    after the server ends (README "Crash forensics"); its files are the island's remains."""
    remains_paths: list[str] = field(default_factory=lambda: ["logs/", "hs_err_pid*.log", "core*"])
    """What of remains_dir a remains bundle holds: relative paths or globs (core.remains says which
    characters); a directory is taken whole."""
    remains_max_bytes: int = 256 * 1024 * 1024
    """Most bytes of those files one bundle holds; past it the bundle is cut and says so (notes.txt)."""
    remains_log_lines: int = 2000
    """The server log's last lines in a bundle (at most log_limit_bytes of them)."""


@dataclass(frozen=True)
class TrackerSettings:
    restart_backoff: float = 0.5
    """First delay before restarting a watch that ended; doubles up to restart_backoff_max."""
    restart_backoff_max: float = 10.0
    lock_name: str = "island_ssh.kube.tracker"
    """MySQL named lock: one tracker per database acts at a time."""
    stale_after: float = 60.0
    relist_interval: float = 30.0
    """Seconds between re-lists while a watch runs: a safety net for events a watch never sent."""
    """A watch that has sent nothing for this long is restarted (API servers end watches)."""
    switch_interval: float = 0.001
    """Python's thread switch interval (sys.setswitchinterval) set when the tracker starts, if
    lower than the process's: its thread waits for the interpreter lock after every read of the
    watch and every MySQL round trip, up to this long each time while other threads compute (a
    launch burst). 0: leave the interpreter's own (5 ms). bench/tracker_latency.py measures it."""


@dataclass(frozen=True)
class WebSettings:
    bind: str = "127.0.0.1"
    port: int = 8080
    threads: int = 32
    secret_key: str = ""
    """Session/CSRF key; set ISLAND_SSH_WEB_SECRET_KEY. Empty means a random key per start."""
    users: dict[str, str] = field(default_factory=dict)
    """Standalone mode: API token -> user id (also the name shown). Prefer the environment for real tokens."""
    admins: list[str] = field(default_factory=list)
    """User ids (a hook's User.id, or the user a standalone token names) who may act on every
    island. Ids, never display names: anyone may call themselves "admin"."""
    streams_per_user: int = 4
    """Live-update streams one user may hold open at once (tabs); beyond it their pages poll."""
    max_streams: int = 256
    """Live-update streams (open pages) one process serves at once; beyond it pages poll. Each holds
    a thread: `island-ssh serve` runs this many waitress threads beyond ``threads``; under another
    server (gunicorn gthread, a host app) keep it under half that server's threads."""
    feed_poll_interval: float = 0.05
    """Seconds between reads of new island events while a page is open: the store -> page floor."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body, enforced by waitress before the body is read and by Flask after."""
    idle_timeout: int = 15
    """Seconds an idle keep-alive connection is kept before waitress closes it."""
    connection_limit: int = 400
    """Open connections waitress accepts at once; beyond it new ones wait in the listen backlog."""
    max_header_bytes: int = 64 * 1024
    """Largest request line plus headers waitress reads."""
    secure_cookies: str = "auto"
    """auto (Secure when the request came over HTTPS) | always (TLS ends at a proxy) | never."""
    login_failures: int = 5
    """Failed logins per client IP and per user name within login_window before 429."""
    login_window: float = 60.0
    """Seconds over which failed logins are counted."""
    metrics_token: str = ""
    """Bearer token Prometheus sends to read /metrics (32+ characters; ISLAND_SSH_WEB_METRICS_TOKEN).
    Empty: /metrics is open, as most exporters are (README "Metrics" says what it shows)."""


@dataclass(frozen=True)
class RecoverSettings:
    lost_grace: float = 300.0
    """Seconds an island stays `lost` before its id and ports are released."""
    stuck_after: float = 300.0
    """Seconds an allocated/applying row may exist with no pod before recover acts."""
    stuck_action: str = "release"
    """release | reapply: for ``allocated`` rows (never answered). ``applying`` rows were accepted
    and are always applied again (service/resume.py), never released."""
    orphan_action: str = "adopt"
    """adopt | delete | report: pods with our label and no row."""
    retention: float = 86400.0
    """Seconds a pod whose server ended is kept for inspection before it is deleted."""
    lock_name: str = "island_ssh.core.recovery_plan"


@dataclass(frozen=True)
class SandboxNode:
    name: str
    labels: dict[str, str]
    memory: str = "4Gi"


@dataclass(frozen=True)
class SandboxSettings:
    state_dir: str = "/var/tmp/island-ssh-sandbox"
    api_port: int = 0
    """0 picks a free port."""
    watch_timeout: float = 1800.0
    """Seconds after which the emulated API server ends a watch, as real ones do."""
    node_ip_prefix: str = "127.0.0"
    """Node N listens on PREFIX.(10+N); sandboxes side by side need different prefixes."""
    nodes: list[SandboxNode] = field(
        default_factory=lambda: [
            SandboxNode("node-dev-1", {"branch": "dev"}),
            SandboxNode("node-dev-2", {"branch": "dev"}),
            SandboxNode("node-weekly-1", {"branch": "weekly"}),
        ]
    )
    rbac: str = ""
    """An RBAC file (e.g. conf/kubernetes/rbac.yaml) the API server enforces for the master's kubectl,
    which then acts as the file's ServiceAccount; "" allows everything."""
    metrics_api: bool = True
    """Serve metrics.k8s.io (`kubectl top`) from the pods' real processes, as metrics-server does;
    false plays a cluster without metrics-server (island usage then says "not available")."""


@dataclass(frozen=True)
class Settings:
    ssh: SSHSettings = field(default_factory=SSHSettings)
    kube: KubeSettings = field(default_factory=KubeSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    islands: IslandSettings = field(default_factory=IslandSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    recover: RecoverSettings = field(default_factory=RecoverSettings)
    clock: ClockSettings = field(default_factory=ClockSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    source: str = "<defaults>"
    """The file these settings came from (for messages)."""

    def replace(self, **sections: Any) -> "Settings":
        """A copy with some fields of some sections changed: replace(ssh={"port": 2222})."""
        changes = {}
        for name, values in sections.items():
            current = getattr(self, name)
            changes[name] = dataclasses.replace(current, **values) if isinstance(values, dict) else values
        return dataclasses.replace(self, **changes)
