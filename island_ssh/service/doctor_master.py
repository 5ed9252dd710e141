"""doctor's checks of the master's login shell and of sshd's MaxSessions (island_ssh.ssh.master_probe
measures; here the findings become one line each, with what to do).

A login shell RemoteShell cannot serve, and a master granting fewer session channels than the
pool plus the watch, are configuration problems of the master: exit 3, like a bad setting.
"""

from __future__ import annotations

from island_ssh.core.errors import IslandError, LoginShellError, SessionLimitError
from island_ssh.service.check import EXIT_CONFIG, EXIT_UNREACHABLE, FAIL, OK, WARN, Check

SLOW_PROFILE = 1.0
"""A login profile taking longer than this is reported (each new shell channel waits for it)."""


def check_login_shell(target):
    """The login shell, sshd's banner, what the profile prints (discarded) and how long it takes."""
    from island_ssh.ssh.master_probe import probe_login_shell
    try:
        report = probe_login_shell(target)
    except (LoginShellError, SessionLimitError) as exc:
        return Check("login shell", FAIL, exc.message, EXIT_CONFIG)
    except IslandError as exc:
        return Check("login shell", FAIL, exc.message, EXIT_UNREACHABLE)
    # a wrapper that execs another shell is worth saying; /bin/bash running /usr/bin/bash is not
    same = report.runs.rsplit("/", 1)[-1] == report.shell.rsplit("/", 1)[-1]
    runs = f" (runs {report.runs})" if report.runs and not same else ""
    found = (f"{report.shell}{runs}, {report.version or 'a POSIX shell'}; banner {len(report.banner)} bytes; "
             f"profile printed {len(report.profile_stdout)}+{len(report.profile_stderr)} bytes (stdout+stderr, "
             f"discarded) and took {report.startup_seconds:.2f}s")
    if report.profile_noise:
        sample = (report.profile_stdout or report.profile_stderr)[:60].decode("utf-8", errors="replace")
        found += f", starting {sample!r}"
    if report.startup_seconds > min(SLOW_PROFILE, target.connect_timeout / 2):
        return Check("login shell", WARN, f"{found}: every new shell channel waits that long; make the login "
                       f"profile quicker for non-interactive logins, and keep ssh.connect_timeout "
                       f"({target.connect_timeout:g}s) well above it")
    return Check("login shell", OK, found)


def check_sessions(target):
    """How many session channels one connection is granted (sshd MaxSessions) against pool + watch."""
    from island_ssh.ssh.master_probe import probe_sessions
    try:
        report = probe_sessions(target)
    except IslandError as exc:
        return Check("ssh sessions", FAIL, exc.message, EXIT_UNREACHABLE)
    if not report.enough:
        return Check("ssh sessions", FAIL, report.advice, EXIT_CONFIG)
    return Check("ssh sessions", OK, f"the master grants at least {report.wanted} sessions per connection "
                   f"(ssh.pool_size {target.pool_size} + the watch)")
