"""RemoteShell against login users shaped like real masters' (tests/fixtures/login_shells.py):
banners and MOTDs, noisy profiles and .bashrc, set -euxC and traps, dash, zsh, bash at its 4.2
level and in POSIX mode, stty without a terminal, a 2 s profile. Real commands through each;
the shapes it cannot serve are refused with a LoginShellError naming the cause."""

from __future__ import annotations

import os

import pytest

from island_ssh.ssh import CommandTimeout, LoginShellError, RemoteShell
from island_ssh.ssh.shell_channel import ShellChannel

from fixtures.login_shells import REFUSED, Shape, shaped_sshd
from fixtures.ssh import wait_for

MARKERISH = "ISLAND_SSH_END_0123456789abcdef 0\nISLAND_SSH_READY_x\nISLAND_SSH_ END_\n"


@pytest.fixture(scope="module")
def shaped(served_shape):
    shape, server = served_shape
    shell = RemoteShell(server.target(connect_timeout=10.0, pool_size=2))
    try:
        yield shape, shell
    finally:
        shell.close()


def test_profile_environment_is_kept_and_its_noise_dropped(shaped):
    shape, shell = shaped
    result = shell.run('echo "$ISLAND_PROFILE_MARK"; id -un')
    mark = shape.name if shape.mark is None else shape.mark
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{mark}\nislandsh-{shape.name}\n", "")


def test_exact_output_stderr_and_exit_codes(shaped):
    _, shell = shaped
    assert shell.run("printf 'a\\000b\\377c'").stdout_bytes == b"a\x00b\xffc"
    mixed = shell.run("echo out; echo err >&2; (exit 7)")
    assert (mixed.exit_code, mixed.stdout, mixed.stderr) == (7, "out\n", "err\n")
    # set -e / -u / pipefail / ERR and DEBUG traps of a profile do not leak into commands
    lenient = shell.run('false; echo "${NOT_SET_ANYWHERE}x"; false | true; echo done')
    assert (lenient.exit_code, lenient.stdout, lenient.stderr) == (0, "x\ndone\n", "")
    assert shell.run(f"printf %s {_sh_quote(MARKERISH)}").stdout == MARKERISH
    unbalanced = shell.run("echo 'unbalanced")
    assert unbalanced.exit_code != 0 and shell.run("echo still").stdout == "still\n"


def test_stdin_inline_and_uploaded(shaped):
    _, shell = shaped
    small = b"line one\nISLAND_SSH_STDIN_x\n\x00\xff no final newline"
    assert shell.run("cat", stdin=small).stdout_bytes == small
    big = os.urandom(200_000)  # past inline_stdin_max: uploaded on an exec channel (sshd runs the rc files)
    result = shell.run("cat | od -An -tx1 | tr -d ' \\n'", stdin=big)
    assert (result.exit_code, result.stdout) == (0, big.hex())
    assert shell.run("wc -c", stdin=b"").stdout.strip() == "0"


def test_large_output(shaped):
    _, shell = shaped
    result = shell.run("seq 1 300000", timeout=60)
    assert result.exit_code == 0 and result.stdout == "".join(f"{i}\n" for i in range(1, 300001))


def test_exit_ends_the_shell_with_its_status(shaped):
    _, shell = shaped
    assert shell.run("echo last; exit 3").exit_code == 3
    assert shell.run("echo next").stdout == "next\n"


def test_stream_runs_in_the_shape(shaped):
    _, shell = shaped
    with shell.stream("printf 'l1\\nl2\\n'; echo hidden >&2; exit 4") as stream:
        lines = [stream.get_line(timeout=20), stream.get_line(timeout=20), stream.get_line(timeout=20)]
        assert lines == ["l1", "l2", None] and stream.wait(20) == 4


def test_timeout_kills_and_replaces_the_shell(shaped):
    _, shell = shaped
    with pytest.raises(CommandTimeout):
        shell.run("sleep 30", timeout=1.5)
    assert shell.run("echo alive").stdout == "alive\n"
    # the killed command's process group is gone (an ignored TERM from the profile was reset)
    leftover = lambda: shell.run("ps -o pid=,args= -u \"$(id -u)\" | grep '[s]leep 30' || true").stdout
    wait_for(lambda: leftover() == "", 10, what="sleep killed")


def test_profile_report(served_shape):
    shape, server = served_shape
    with RemoteShell(server.target(connect_timeout=10.0)) as shell:
        channel = ShellChannel.open(shell.connect()._connection(), 10.0)
        try:
            noise = channel.profile_stdout + channel.profile_stderr
            if shape.name in ("noisy", "dash", "zsh"):
                assert noise, "the profile's output is kept for doctor"
            if shape.name == "slow":
                assert channel.startup_seconds >= 2.0
        finally:
            channel.close()


@pytest.mark.parametrize("shape", REFUSED, ids=[s.name for s in REFUSED])
def test_unservable_profile_is_refused_with_its_cause(shape: Shape):
    with shaped_sshd(shape) as server:
        with RemoteShell(server.target(connect_timeout=3.0)) as shell:
            with pytest.raises(LoginShellError) as caught:
                shell.run("echo hi", timeout=20)
            message = caught.value.message
            assert shape.refusal in message and "`[ -t 0 ] || return`" in message, message
            assert caught.value.cli_exit == 3


def test_background_job_of_the_profile_is_refused():
    shape = Shape("bgjob", "/bin/bash", {".bash_profile": "(while :; do echo tick; sleep 0.2; done) &\n"})
    with shaped_sshd(shape) as server:
        with RemoteShell(server.target(connect_timeout=5.0, pool_size=1)) as shell:
            shell.run("true")
            idle = shell._idle[0]  # the one pooled shell: wait until the job's output reaches it
            wait_for(lambda: idle.channel.recv_ready(), 10, what="background output")
            with pytest.raises(LoginShellError, match="between commands.*tick"):
                shell.run("echo hi")


def _sh_quote(text: str) -> str:
    import shlex
    return shlex.quote(text)
