"""Round trip of one remote command: persistent RemoteShell vs a fresh connection vs ssh(1).

    .venv/bin/python bench/ssh_roundtrip.py [--n N]

Starts its own private sshd on 127.0.0.1 for a dedicated user (default "islandbench", created if
missing, with a plain profile: root's ~/.bashrc on a developer machine may run pyenv and friends
on every fresh shell, which would flatter the persistent shell), then measures, all in one run:
  * median round trip of `true` and of `cat` with 64 KiB of stdin through RemoteShell;
  * the same with a fresh paramiko connection per command (how the original worked);
  * the same with the OpenSSH command line (`ssh -i key ... root@127.0.0.1 true`);
  * waited commands per second through one shell channel (pool_size=1).
Prints the figures, the ratios and the goals, each marked met or missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from island_ssh.ssh import RemoteShell  # noqa: E402
from island_ssh.testing.sshd import PrivateSSHD  # noqa: E402

PAYLOAD = os.urandom(64 * 1024)


def timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def persistent(shell: RemoteShell, stdin: bytes | None) -> None:
    result = shell.run("cat" if stdin else "true", stdin=stdin)
    assert result.exit_code == 0 and (stdin is None or result.stdout_bytes == stdin)


def fresh_connection(sshd: PrivateSSHD, stdin: bytes | None) -> None:
    client = paramiko.SSHClient()
    client.load_host_keys(str(sshd.known_hosts))  # RejectPolicy, paramiko's default
    try:
        client.connect(
            sshd.host, sshd.port, username=sshd.user, key_filename=str(sshd.key_file),
            look_for_keys=False, allow_agent=False, timeout=10, banner_timeout=10, auth_timeout=10,
        )  # fmt: skip
        channel = client.get_transport().open_session(timeout=10)
        channel.settimeout(10)
        channel.exec_command("cat" if stdin else "true")
        if stdin:
            channel.sendall(stdin)
        channel.shutdown_write()
        received = bytearray()
        while chunk := channel.recv(1 << 16):
            received += chunk
        assert channel.recv_exit_status() == 0 and (stdin is None or bytes(received) == stdin)
    finally:
        client.close()


def openssh(sshd: PrivateSSHD, stdin: bytes | None) -> None:
    argv = sshd.ssh_command("cat" if stdin else "true")
    done = subprocess.run(argv, input=stdin or b"", capture_output=True, timeout=30)
    assert done.returncode == 0 and (stdin is None or done.stdout == stdin), done.stderr


def throughput(shell: RemoteShell, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        shell.run("true")
        count += 1
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="runs per persistent measurement (default 300)")
    parser.add_argument("--n-fresh", type=int, default=20, help="runs per fresh-connection / ssh(1) measurement")
    parser.add_argument("--user", default="islandbench", help="login user (created if missing; root allowed)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the commands/s measurement")
    args = parser.parse_args()

    # /var/tmp: a non-root user must be able to reach its home and authorized_keys in there
    with tempfile.TemporaryDirectory(prefix="ssh-bench-", dir="/var/tmp") as state:
        os.chmod(state, 0o755)
        return measure(args, PrivateSSHD(Path(state) / "sshd", user=args.user))


def measure(args: argparse.Namespace, server: PrivateSSHD) -> int:
    with server as sshd:
        rows: dict[str, float] = {}
        with RemoteShell(sshd.target()) as shell:
            for _ in range(20):  # warm up: channel opened, code paths hot
                persistent(shell, None)
                persistent(shell, PAYLOAD)
            rows["persistent true"] = statistics.median(timed(lambda: persistent(shell, None), args.n))
            rows["persistent cat 64K"] = statistics.median(timed(lambda: persistent(shell, PAYLOAD), args.n))
        rows["fresh paramiko true"] = statistics.median(timed(lambda: fresh_connection(sshd, None), args.n_fresh))
        rows["fresh paramiko cat 64K"] = statistics.median(timed(lambda: fresh_connection(sshd, PAYLOAD), args.n_fresh))
        rows["ssh(1) true"] = statistics.median(timed(lambda: openssh(sshd, None), args.n_fresh))
        rows["ssh(1) cat 64K"] = statistics.median(timed(lambda: openssh(sshd, PAYLOAD), args.n_fresh))
        with RemoteShell(sshd.target(pool_size=1)) as shell:
            shell.run("true")
            per_second = throughput(shell, args.seconds)

    print(f"user {args.user}, {args.n} persistent runs, {args.n_fresh} fresh runs per row")
    print(f"{'measurement':<26}{'median ms':>12}")
    for name, seconds in rows.items():
        print(f"{name:<26}{seconds * 1000:>12.3f}")
    print(f"{'one channel, commands/s':<26}{per_second:>12.0f}")
    print()
    fresh_ratio = rows["fresh paramiko true"] / rows["persistent true"]
    print(f"fresh paramiko / persistent  true: {fresh_ratio:8.1f}x   cat 64K: "
          f"{rows['fresh paramiko cat 64K'] / rows['persistent cat 64K']:8.1f}x")
    print(f"ssh(1) / persistent          true: {rows['ssh(1) true'] / rows['persistent true']:8.1f}x   cat 64K: "
          f"{rows['ssh(1) cat 64K'] / rows['persistent cat 64K']:8.1f}x")
    print()
    goals = [
        ("persistent >= 100x faster than a fresh connection (true)", fresh_ratio >= 100),
        ("persistent `true` median < 1 ms", rows["persistent true"] < 0.001),
        (">= 2,000 commands/s through one channel", per_second >= 2000),
    ]
    for text, met in goals:
        print(f"[{'met' if met else 'MISSED':>6}] {text}")
    return 0 if all(met for _, met in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
