"""Real local services for tests, benchmarks and the demo (sshd, MariaDB), and maintained fakes of
the cluster side (fakes.py: FakeShell, FakeKubectl, ManualClock): maintained code, not mocks."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` right now (the kernel's pick; bind it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
