"""sshd's MaxSessions (session channels per connection: default 10, hardened masters 1-2) against
the shell pool plus the watch: a refused channel is a SessionLimitError saying what to change,
the connection stays up, and doctor's probe counts what the master grants."""

from __future__ import annotations

import os
import threading

import pytest

from island_ssh.ssh import RemoteShell, SessionLimitError
from island_ssh.ssh.master_probe import probe_sessions
from island_ssh.testing.sshd import PrivateSSHD


@pytest.fixture(scope="module", params=[1, 2, 10], ids=["MaxSessions1", "MaxSessions2", "default10"])
def limited_sshd(request, tmp_path_factory):
    with PrivateSSHD(tmp_path_factory.mktemp(f"sshd-max{request.param}"), max_sessions=request.param) as server:
        yield request.param, server


def test_watch_beyond_the_limit_is_refused_with_what_to_change(limited_sshd):
    allowed, server = limited_sshd
    with RemoteShell(server.target(pool_size=4)) as shell:
        streams = []
        try:
            shell.run("true")  # one pooled shell channel stays open
            for _ in range(allowed - 1):  # fill the rest with watches
                streams.append(shell.stream("sleep 60"))
            with pytest.raises(SessionLimitError) as caught:
                streams.append(shell.stream("sleep 60"))
        finally:
            for stream in streams:
                stream.close()
        message = caught.value.message
        assert f"the master allows {allowed} sessions per connection (sshd MaxSessions)" in message
        assert "island_ssh needs ssh.pool_size + 1 = 5" in message and "MaxSessions 5" in message
        if allowed >= 2:
            assert f"ssh.pool_size {allowed - 1}" in message
        else:
            assert "no ssh.pool_size fits one session" in message
        assert caught.value.cli_exit == 3
        # only the channel was refused: the connection and the pooled shell still work
        assert shell.connected and shell.run("echo still").stdout == "still\n"


def test_concurrent_commands_beyond_the_limit(limited_sshd):
    allowed, server = limited_sshd
    pool = 4
    with RemoteShell(server.target(pool_size=pool)) as shell:
        gate = os.path.join("/tmp", f"island-ssh-gate-{os.getpid()}-{allowed}")
        results, errors = [], []

        def run():
            try:
                # each holds its channel until the gate file appears (made by the main thread)
                results.append(shell.run(f"while [ ! -e {gate} ]; do sleep 0.02; done; echo done", timeout=30))
            except SessionLimitError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(pool)]
        try:
            for thread in threads:
                thread.start()
            from fixtures.ssh import wait_for
            wait_for(lambda: len(errors) == max(pool - allowed, 0), 20, what="refusals")
        finally:
            open(gate, "w").close()
            for thread in threads:
                thread.join(30)
            os.unlink(gate)
        assert len(results) == min(pool, allowed) and all(r.stdout == "done\n" for r in results)
        assert all("MaxSessions" in e.message for e in errors)


def test_large_stdin_falls_back_to_inline_when_no_session_is_left(tmp_path):
    """The upload's exec channel is refused when pool and watch use every session: stdin then
    travels inline through the shell, bytes intact."""
    with PrivateSSHD(tmp_path / "sshd", max_sessions=2) as server:
        with RemoteShell(server.target(pool_size=1)) as shell:
            shell.run("true")
            with shell.stream("sleep 60"):
                data = os.urandom(100_000)
                result = shell.run("od -An -tx1 | tr -d ' \\n'", stdin=data, timeout=60)
                assert (result.exit_code, result.stdout) == (0, data.hex())


def test_probe_counts_the_sessions_granted(limited_sshd):
    allowed, server = limited_sshd
    report = probe_sessions(server.target(pool_size=4))
    assert report.wanted == 5 and report.granted == min(allowed, 5)
    assert report.enough == (allowed >= 5)
    if not report.enough:
        assert f"allows {allowed} sessions" in report.advice and "MaxSessions 5" in report.advice
