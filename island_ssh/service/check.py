"""One line of ``island-ssh doctor``: what was checked, how it went, the exit code on failure."""

from __future__ import annotations

from dataclasses import dataclass

OK, FAIL, WARN, SKIP = "ok", "FAIL", "warn", "skip"
EXIT_CONFIG, EXIT_UNREACHABLE, EXIT_KUBECTL, EXIT_PERMISSION = 3, 7, 8, 5


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    """ok | FAIL | warn (could not be fully checked) | skip (an earlier check failed)"""
    detail: str
    exit_code: int = 0
    """The CLI's exit code for this failure (see island_ssh.cli.main)."""

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status.lower(), "detail": self.detail}
