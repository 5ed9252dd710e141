"""PrivateSSHD: the maintained test/demo sshd itself."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from island_ssh.ssh import RemoteShell
from island_ssh.testing.sshd import PrivateSSHD

from fixtures.ssh import wait_for


def test_known_hosts_and_session_pids(private_sshd):
    assert private_sshd.known_hosts.read_text().startswith(f"[127.0.0.1]:{private_sshd.port} ssh-ed25519 ")
    assert private_sshd.session_pids() == []
    with RemoteShell(private_sshd.target()) as shell:
        shell.run("true")
        sessions = private_sshd.session_pids()
        assert sessions and all(Path(f"/proc/{pid}/comm").read_text().strip() == "sshd" for pid in sessions)
    wait_for(lambda: private_sshd.session_pids() == [], 5, what="session ended after close")


def test_openssh_client_accepts_the_generated_files(private_sshd):
    done = subprocess.run(private_sshd.ssh_command("echo", "via", "openssh"), capture_output=True, text=True, timeout=20)
    assert (done.returncode, done.stdout) == (0, "via openssh\n"), done.stderr


def test_stop_ends_listener_and_sessions(tmp_path):
    server = PrivateSSHD(tmp_path / "s").start()
    listener = server.pid
    shell = RemoteShell(server.target())
    try:
        shell.run("true")
        sessions = server.session_pids()
        server.stop()
        for pid in [listener, *sessions]:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    finally:
        shell.close()
        server.stop()


def test_dedicated_user_gets_its_login_environment():
    user = "islandssh-test"
    existed = _user_exists(user)
    state = Path(tempfile.mkdtemp(prefix="island-ssh-sshd-", dir="/var/tmp"))
    state.chmod(0o755)  # the user's home and authorized_keys live below: it must reach them
    try:
        env = {"PATH": f"/opt/island-test-bin:{os.defpath}", "KUBECONFIG": "/etc/island test/kubeconfig"}
        with PrivateSSHD(state / "sshd", user=user, login_env=env) as server:
            with RemoteShell(server.target()) as shell:
                result = shell.run('id -un; echo "$PATH"; echo "$KUBECONFIG"')
        assert result.stdout.splitlines() == [user, env["PATH"], env["KUBECONFIG"]]
        # idempotent: the same user again, from another state dir
        with PrivateSSHD(state / "again", user=user) as server:
            with RemoteShell(server.target()) as shell:
                assert shell.run("id -un").stdout == f"{user}\n"
    finally:
        if not existed and _user_exists(user):
            subprocess.run(["userdel", user], check=False, timeout=30)
        shutil.rmtree(state, ignore_errors=True)


def test_login_env_for_root_is_refused(tmp_path):
    with pytest.raises(ValueError, match="dedicated user"):
        PrivateSSHD(tmp_path, login_env={"PATH": "/x"})


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
