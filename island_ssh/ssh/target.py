"""Where and how to log in to the Kubernetes master: one small immutable value."""

from __future__ import annotations

from dataclasses import dataclass

from island_ssh.config import SSHSettings, expand_path


@dataclass(frozen=True)
class SSHTarget:
    host: str
    port: int = 22
    user: str = "root"
    key_file: str = "~/.ssh/id_ed25519"
    """Private key (keys only, never passwords)."""
    known_hosts: str = "~/.ssh/known_hosts"
    """The host key must already be in this file; nothing is ever added to it."""
    connect_timeout: float = 10.0
    """Seconds for TCP connect, handshake and authentication together."""
    keepalive_interval: float = 5.0
    """Seconds of silence after which the connection is probed (0: probe only at the timeout)."""
    inactivity_timeout: float = 20.0
    """Seconds without a single byte from the server, probes included, after which it is dead."""
    pool_size: int = 4
    """Persistent shell channels: how many commands may run side by side."""

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if self.connect_timeout <= 0 or self.inactivity_timeout <= 0:
            raise ValueError("connect_timeout and inactivity_timeout must be positive")

    @classmethod
    def from_settings(cls, settings: SSHSettings) -> "SSHTarget":
        return cls(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            key_file=str(expand_path(settings.key_file)),
            known_hosts=str(expand_path(settings.known_hosts)),
            connect_timeout=settings.connect_timeout,
            keepalive_interval=settings.keepalive_interval,
            inactivity_timeout=settings.inactivity_timeout,
            pool_size=settings.pool_size,
        )

    @property
    def address(self) -> str:
        """How people (and known_hosts) name this server: host, or [host]:port off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"
