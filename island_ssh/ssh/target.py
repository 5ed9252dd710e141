"""Where and how to log in to the Kubernetes master: one small immutable value."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from island_ssh.config import expand_path
from island_ssh.core.settings import SSHSettings


@dataclass(frozen=True)
class SSHTarget(SSHSettings):
    """The config's ``ssh`` section, checked: what a connection is opened to.

    Its fields, their defaults (user ``islandmaster``) and their meaning are SSHSettings': declared
    once, there. ``from_settings`` also expands ``~`` in the key and known_hosts paths.
    """

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if not 1 <= self.user_read_channels <= self.pool_size:
            raise ValueError(f"user_read_channels must be from 1 to pool_size ({self.pool_size}); "
                             f"got {self.user_read_channels}")
        if self.user_read_wait <= 0:
            raise ValueError("user_read_wait must be positive")
        if self.connect_timeout <= 0 or self.inactivity_timeout <= 0:
            raise ValueError("connect_timeout and inactivity_timeout must be positive")

    @classmethod
    def from_settings(cls, settings: SSHSettings) -> "SSHTarget":
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(SSHSettings)}
        values.update(key_file=str(expand_path(settings.key_file)), known_hosts=str(expand_path(settings.known_hosts)))
        return cls(**values)

    @property
    def address(self) -> str:
        """How people (and known_hosts) name this server: host, or [host]:port off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"
