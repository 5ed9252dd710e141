"""Many threads on one RemoteShell: results never mix, the pool runs commands side by side."""

import dataclasses
import threading
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
    """Four commands that can only finish together: each marks itself, then waits for all four
    marks. Run one after another, the first would wait out its 20 s and print fewer than 4."""
    shell = RemoteShell(dataclasses.replace(ssh_target, pool_size=4))
    try:
        meeting = shell.run("mktemp -d").stdout.strip()
        results: dict[int, str] = {}

        def meet(index: int) -> None:
            results[index] = shell.run(
                f"touch {meeting}/{index}; n=0; "
                f"while [ $(ls {meeting} | wc -l) -lt 4 ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done; "
                f"ls {meeting} | wc -l", timeout=30).stdout.strip()

        threads = [threading.Thread(target=meet, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40)
        assert results == {i: "4" for i in range(4)}, f"not side by side: {results}"
        shell.run(f"rm -r {meeting}")
    finally:
        shell.close()
