"""Many threads on one RemoteShell: results never mix, the pool runs commands side by side."""

import dataclasses
import threading
import time
import uuid

from island_ssh.ssh import RemoteShell


def test_sixteen_threads_times_200_commands_each_get_their_own_result(remote_shell):
    failures: list[str] = []
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for n in range(200):
                token = f"{index}-{n}-{uuid.uuid4().hex}"
                result = remote_shell.run(f"echo {token}; echo {token} >&2; (exit {n % 7})")
                if (result.stdout, result.stderr, result.exit_code) != (f"{token}\n", f"{token}\n", n % 7):
                    failures.append(f"{token}: {result!r}")
        except BaseException as exc:  # surfaced below, with its thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert failures == []


def test_independent_commands_run_side_by_side(ssh_target):
    shell = RemoteShell(dataclasses.replace(ssh_target, pool_size=4))
    try:
        shell.run("true")
        started = time.monotonic()
        threads = [threading.Thread(target=shell.run, args=("sleep 0.6",)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        elapsed = time.monotonic() - started
        assert elapsed < 4 * 0.6 * 0.75, f"4 sleeps of 0.6s took {elapsed:.2f}s: not parallel"
    finally:
        shell.close()
