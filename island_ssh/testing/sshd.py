"""A private OpenSSH server on 127.0.0.1 for tests, benchmarks and the demo sandbox.

Everything lives in ``state_dir``: fresh ed25519 host and client keys, sshd_config, known_hosts
(with this server's key for ``[127.0.0.1]:PORT``), the authorized_keys file, the PID file and
``sshd.log``. sshd runs as a plain child process (``sshd -D -e``) that we wait on; ``stop()``
ends the per-connection session processes first (so the listener reaps them) and then the
listener, by PID.

``user`` other than root is created if missing (a fixed home under /var/lib/island-ssh/homes,
shell /bin/bash, password field ``*`` because useradd leaves it locked). ``login_env`` goes to
``state_dir/login_env.sh``, which the user's ``~/.profile`` sources through a variable this
sshd's ``SetEnv`` names: a login shell's PATH can only come from the profile (/etc/profile
overwrites a PATH set by sshd), and the user itself never changes per sshd, so several sshds
(the demo and a test run) can serve the same user at once.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from island_ssh.testing import free_port
from island_ssh.testing.shared_home import users_lock as _users_lock, write_if_changed as _write_if_changed

if TYPE_CHECKING:
    from island_ssh.ssh import SSHTarget

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class SSHDError(RuntimeError):
    """The private sshd could not be set up or started; the message points at its log."""


USER_HOMES = Path("/var/lib/island-ssh/homes")
"""Homes of the login users PrivateSSHD creates (fixed: shared by every sshd using that user)."""
START_UP_FILES = (".profile", ".bash_profile", ".bash_login", ".bashrc", ".zshenv", ".zprofile", ".zshrc",
                  ".zlogin")
"""The home's files a login shell (bash, dash, zsh) or sshd's ``bash -c`` may read."""


def _account_locked(user: str) -> bool:
    out = subprocess.run(["passwd", "-S", user], capture_output=True, text=True, timeout=10).stdout.split()
    return len(out) > 1 and out[1] == "L"


class PrivateSSHD:
    def __init__(
        self,
        state_dir: Path | str,
        user: str = "root",
        port: int = 0,
        extra_config: str = "",
        login_env: dict[str, str] | None = None,
        login_shell: str | None = None,
        profile_files: dict[str, str] | None = None,
        max_sessions: int = 64,
        banner: str | None = None,
    ) -> None:
        """``login_shell`` (absolute path) and ``profile_files`` (home-relative name -> text,
        e.g. ``.bash_profile``) shape a dedicated user as a real master's login user; the given
        files replace the default ~/.profile (and every other shell start-up file of the home).
        ``max_sessions`` is sshd's MaxSessions (channels per connection), ``banner`` the text
        sshd sends before authentication (its ``Banner`` option)."""
        self.state_dir = Path(state_dir).resolve()
        self.user = user
        self.host = "127.0.0.1"
        self._requested_port = port
        self.port = port
        self.extra_config = extra_config
        self.login_env = dict(login_env or {})
        if (self.login_env or login_shell or profile_files) and user == "root":
            raise ValueError("login_env, login_shell and profile_files need a dedicated user: root's are not ours")
        self.login_shell = login_shell
        self.profile_files = dict(profile_files) if profile_files is not None else None
        self.max_sessions = max_sessions
        self.banner = banner
        self.key_file = self.state_dir / "client_ed25519"
        self.host_key_file = self.state_dir / "ssh_host_ed25519_key"
        self.authorized_keys = self.state_dir / "authorized_keys"
        self.known_hosts = self.state_dir / "known_hosts"
        self.config_path = self.state_dir / "sshd_config"
        self.pid_file = self.state_dir / "sshd.pid"
        self.log_path = self.state_dir / "sshd.log"
        self.login_env_file = self.state_dir / "login_env.sh"
        self._proc: subprocess.Popen | None = None
        self._last_port = 0
        self._log_file = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> "PrivateSSHD":
        if self._proc is not None:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # sshd's privsep chroot
        self._make_keys()
        if self.user != "root":
            self._ensure_user()
        # Started again after stop(): listen where the clients (and known_hosts) expect it.
        fixed = self._requested_port or self._last_port
        attempts = 1 if fixed else 5
        for attempt in range(attempts):
            self.port = fixed or free_port(self.host)
            self._write_config()
            self._write_known_hosts()
            if self._spawn():
                return self
        raise SSHDError(f"sshd did not start after {attempts} tries; see {self.log_path}:\n{self._log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            sessions = _descendants_named(proc.pid, "sshd")
            for pid in sessions:
                _signal(pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                _signal(pid, signal.SIGTERM)
            _wait_until(lambda: not any(_alive(pid) for pid in sessions), STOP_TIMEOUT)
            for pid in sessions:
                _signal(pid, signal.SIGKILL)
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> "PrivateSSHD":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def session_pids(self) -> list[int]:
        """PIDs of the per-connection sshd processes (monitor and its network child), parents
        first. SIGKILL or SIGSTOP all of them to cut or freeze every connection."""
        if self._proc is None:
            return []
        return _descendants_named(self._proc.pid, "sshd")

    def target(self, **overrides) -> "SSHTarget":
        from island_ssh.ssh import SSHTarget

        values = dict(
            host=self.host,
            port=self.port,
            user=self.user,
            key_file=str(self.key_file),
            known_hosts=str(self.known_hosts),
        )
        values.update(overrides)
        return SSHTarget(**values)

    def ssh_command(self, *remote: str) -> list[str]:
        """The OpenSSH client command line for this server (for people and benchmarks)."""
        return [
            "ssh", "-i", str(self.key_file), "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-p", str(self.port), f"{self.user}@{self.host}", *remote,
        ]  # fmt: skip

    # -- set-up -----------------------------------------------------------------------------

    def _make_keys(self) -> None:
        for path, comment in ((self.host_key_file, "island-ssh-host"), (self.key_file, "island-ssh-client")):
            if not path.exists():
                _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
        self.authorized_keys.write_text(Path(f"{self.key_file}.pub").read_text())
        os.chmod(self.authorized_keys, 0o644)

    def _ensure_user(self) -> None:
        """Create the login user once, with a fixed home whose ~/.profile sources the login
        environment of whichever sshd accepted the login (named by SetEnv in that sshd's config).

        Nothing about the user changes per sshd, so several sandboxes (a demo and a test run)
        can use the same user at once; usermod refuses to touch a user with live processes."""
        self._check_traversable(self.state_dir)
        USER_HOMES.mkdir(mode=0o755, parents=True, exist_ok=True)
        # useradd/usermod of two sshds starting at once (parallel test workers, a demo beside a
        # test run) would race on /etc/passwd's lock or on "user exists": one at a time
        with _users_lock():
            self._ensure_user_locked(USER_HOMES / self.user)

    def _ensure_user_locked(self, home: Path) -> None:
        shell = self.login_shell or "/bin/bash"
        try:
            entry = pwd.getpwnam(self.user)
        except KeyError:
            _run(["useradd", "-m", "-d", str(home), "-s", shell, self.user])
            entry = pwd.getpwnam(self.user)
        if entry.pw_shell != shell and self.login_shell is not None:
            _run(["usermod", "-s", shell, self.user])
        if Path(entry.pw_dir) != home:
            _run(["usermod", "-d", str(home), self.user])  # once, from an older layout
        if _account_locked(self.user):
            _run(["usermod", "-p", "*", self.user])  # useradd leaves the account locked
        entry = pwd.getpwnam(self.user)
        home.mkdir(mode=0o755, exist_ok=True)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        if self.profile_files is not None:
            self._write_profile_files(home, entry)
            return
        for shadowing in (".bash_profile", ".bash_login"):  # bash would read these instead
            (home / shadowing).unlink(missing_ok=True)
        _write_if_changed(home / ".profile", (
            "# written by island_ssh.testing.sshd: the login environment comes from the sshd that\n"
            "# accepted this login (its sshd_config SetEnv names the file)\n"
            'if [ -n "${ISLAND_SSH_LOGIN_ENV:-}" ] && [ -r "$ISLAND_SSH_LOGIN_ENV" ]; then\n'
            '    . "$ISLAND_SSH_LOGIN_ENV"\n'
            "fi\n"), entry)
        lines = ["# login environment for this sshd's sessions (island_ssh.testing.sshd)"]
        lines += [f"export {name}={shlex.quote(value)}" for name, value in self.login_env.items()]
        self.login_env_file.write_text("\n".join(lines) + "\n")
        os.chmod(self.login_env_file, 0o644)

    def _write_profile_files(self, home: Path, entry: pwd.struct_passwd) -> None:
        """Exactly the given start-up files in the home: any other one a shell would read goes."""
        for name in START_UP_FILES:
            if name not in self.profile_files:
                (home / name).unlink(missing_ok=True)
        for name, text in self.profile_files.items():
            path = home / name
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_if_changed(path, text, entry)

    def _check_traversable(self, path: Path) -> None:
        for parent in [path, *path.parents]:
            if not parent.stat().st_mode & stat.S_IXOTH:
                raise SSHDError(
                    f"{parent} is not searchable by others, so user {self.user} cannot reach its home "
                    f"and authorized_keys under {self.state_dir}; choose a state_dir under a world-"
                    "searchable directory (e.g. /var/tmp) or chmod o+x it"
                )

    def _write_config(self) -> None:
        config = f"""\
ListenAddress {self.host}
Port {self.port}
HostKey {self.host_key_file}
PidFile {self.pid_file}
AuthorizedKeysFile {self.authorized_keys}
AllowUsers {self.user}
SetEnv ISLAND_SSH_LOGIN_ENV={self.login_env_file}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PrintMotd no
MaxSessions {self.max_sessions}
MaxStartups 100:30:200
LogLevel VERBOSE
{f"Banner {self.state_dir / 'banner'}" if self.banner is not None else ""}
{self.extra_config}
"""
        if self.banner is not None:
            (self.state_dir / "banner").write_text(self.banner)
        self.config_path.write_text(config)

    def _write_known_hosts(self) -> None:
        key_type, key_blob = Path(f"{self.host_key_file}.pub").read_text().split()[:2]
        host = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        self.known_hosts.write_text(f"{host} {key_type} {key_blob}\n")

    def _spawn(self) -> bool:
        if self._log_file is None:
            self._log_file = open(self.log_path, "ab")
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
        )
        deadline = time.monotonic() + START_TIMEOUT
        pause = threading.Event()
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False  # most likely the port got taken between choosing and binding
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as probe:
                    banner = probe.recv(64)
            except OSError:
                pause.wait(0.01)
                continue
            if not banner.startswith(b"SSH-"):
                continue  # someone else's server on our port: sshd will exit, poll() sees it
            self._proc = proc
            self._last_port = self.port
            # The probe made sshd fork a pre-auth child; let it go so session_pids() starts empty.
            _wait_until(lambda: not _descendants_named(proc.pid, "sshd"), STOP_TIMEOUT)
            return True
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)
        raise SSHDError(f"sshd did not accept on {self.host}:{self.port} within {START_TIMEOUT}s; see {self.log_path}")

    def _log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SSHDError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, comm) for every live process, read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # comm is parenthesised and may contain spaces or ")": split on the last ")".
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        table[int(entry)] = (int(fields[1]), comm)
    return table


def _descendants_named(root: int, comm: str) -> list[int]:
    table = proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, frontier = [], [root]
    while frontier:
        next_frontier = []
        for pid in frontier:
            for child in sorted(children.get(pid, [])):
                if table[child][1] == comm:
                    found.append(child)
                    next_frontier.append(child)
        frontier = next_frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        pause.wait(0.01)
    return True
