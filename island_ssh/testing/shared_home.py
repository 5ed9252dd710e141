"""The login users' homes PrivateSSHD shares between sshds (island_ssh.testing.sshd.USER_HOMES):
several sshds of one user may start at once (parallel test workers, a demo beside a test run)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
from pathlib import Path

LOCK_FILE = Path("/var/lib/island-ssh/.users.lock")


@contextlib.contextmanager
def users_lock():
    """LOCK_FILE held exclusively (flock): useradd and usermod of one process at a time."""
    LOCK_FILE.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_if_changed(path: Path, text: str, entry: pwd.struct_passwd) -> None:
    """A start-up file of a shared home, replaced whole (rename) and only when its text differs:
    a login of another sshd of the same user never reads it half-written."""
    try:
        if path.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    fresh = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fresh.write_text(text)
    os.chown(fresh, entry.pw_uid, entry.pw_gid)
    os.replace(fresh, path)
