"""Settings as small frozen dataclasses, one per section of ``conf/island.yaml``, a docstring per field.

Pure data: no file, environment or network is read here. ``island_ssh.config`` loads them (the
file, then ``ISLAND_SSH_<SECTION>_<FIELD>`` overrides); the core takes them as plain values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


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
    server_side_apply: str = "false"
    """``auto`` | ``true`` | ``false``: apply manifests with ``kubectl apply --server-side
    --field-manager=island-ssh`` (conflicts with another manager's fields fail, never forced).
    auto = when the master's kubectl and its API server are both 1.22 or newer (asked once per
    connection). Off by default: it moves the ownership of fields already applied client-side."""

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
    id_max: int = 999
    """Highest island id handed out; port_start + ports_per_island*id_max + 2 must be <= 65535."""
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
    faketime_cache_duration: int = 1
    """Seconds libfaketime caches the clock file; 1 makes a clock change show within ~1 s."""
    ready_timeout: float = 180.0
    """Seconds an island may take from apply to ready before it is marked timeout."""
    capacity_check: bool = True
    capacity_cache_seconds: float = 2.0
    apply_batch_max: int = 200
    """Refuse a launch at once when no node of the branch has the memory free."""
    host_aliases: list[HostAlias] = field(default_factory=list)
    """hostAliases written into every pod."""
    readiness_initial_delay: int = 15
    readiness_period: int = 5
    readiness_timeout: int = 10
    readiness_failure_threshold: int = 10
    log_limit_bytes: int = 1048576
    """Most bytes of an island's log one read returns (kubectl logs --limit-bytes; the answer says
    when it was cut), and the longest line and the most unread bytes a followed log (logs -f) holds."""


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


@dataclass(frozen=True)
class Settings:
    ssh: SSHSettings = field(default_factory=SSHSettings)
    kube: KubeSettings = field(default_factory=KubeSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    islands: IslandSettings = field(default_factory=IslandSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    recover: RecoverSettings = field(default_factory=RecoverSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    source: str = "<defaults>"
    """The file these settings came from (for messages)."""

    def replace(self, **sections: Any) -> "Settings":
        """A copy with some fields of some sections changed: replace(ssh={"port": 2222})."""
        changes = {}
        for name, values in sections.items():
            current = getattr(self, name)
            changes[name] = dataclasses.replace(current, **values) if isinstance(values, dict) else values
        return dataclasses.replace(self, **changes)
