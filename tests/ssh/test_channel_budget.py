"""Users' reads (logs, logs -f) get a small share of the pool; the service's work always finds a
channel; a read over its share is refused quickly with ReadChannelsBusy; a stream holds what its
reader has not taken only up to its bound, and loses nothing. Real sshd, real RemoteShell."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pytest

from island_ssh.core.errors import ReadChannelsBusy
from island_ssh.core.names import SERVICE_WORK, USER_READ
from island_ssh.ssh import RemoteShell
from island_ssh.testing.sshd import PrivateSSHD
from island_ssh.testing.waiting import wait_for


def held_until(release: str, started: str) -> str:
    """A slow read: says it started, then runs until the test creates ``release`` (a file)."""
    return f"touch {started}; echo started; while [ ! -e {release} ]; do sleep 0.05; done; echo done"


@pytest.fixture
def files(tmp_path):
    def name(what: str) -> str:
        return str(tmp_path / f"{what}-{uuid.uuid4().hex[:8]}")
    return name


def test_user_reads_hold_only_their_share_and_the_rest_are_refused_quickly(ssh_target, files, tmp_path):
    """4 slow log reads at once (the old pool let them take all 4 channels): one runs, three are
    refused within user_read_wait; applies/deletes/clock changes meanwhile run at once."""
    shell = RemoteShell(dataclasses.replace(ssh_target, pool_size=4, user_read_channels=1, user_read_wait=0.5))
    release, started = files("release"), files("started")
    outcomes: list[object] = []

    def slow_read() -> None:
        began = time.monotonic()
        try:
            outcomes.append(shell.run(held_until(release, started), timeout=30, purpose=USER_READ).stdout)
        except ReadChannelsBusy as exc:
            outcomes.append((exc, time.monotonic() - began))

    readers = [threading.Thread(target=slow_read) for _ in range(4)]
    try:
        for reader in readers:
            reader.start()
        wait_for(lambda: len(outcomes) == 3, 10, "three of four reads to be refused")
        refused = [o for o in outcomes if isinstance(o, tuple)]
        assert len(refused) == 3
        for exc, waited in refused:
            assert waited < 4.0, f"a refused read hung {waited:.1f}s"  # user_read_wait 0.5 s; loaded CI
            assert "for reading logs" in str(exc) and "try again" in str(exc)
            assert (type(exc).http_status, type(exc).cli_exit) == (503, 7)
        wait_for(lambda: (tmp_path / started.rsplit("/", 1)[1]).exists(), 10, "the one admitted read to run")
        # the service's work: three at once, each at its normal speed, while the read still runs
        done: list[float] = []

        def service_work(n: int) -> None:
            began = time.monotonic()
            assert shell.run(f"sleep 0.3; echo {n}", timeout=10, purpose=SERVICE_WORK).stdout == f"{n}\n"
            done.append(time.monotonic() - began)

        workers = [threading.Thread(target=service_work, args=(n,)) for n in range(3)]
        began = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(15)
        # before: they waited behind the reads until release (never, here): bounds for a loaded machine
        assert len(done) == 3 and time.monotonic() - began < 8.0, f"service work took {done}"
        assert len(outcomes) == 3, "the slow read should still be running"
    finally:
        open(release, "w").close()
        for reader in readers:
            reader.join(15)
        shell.close()
    assert outcomes[-1] == "started\ndone\n"


def test_service_work_completes_while_every_user_channel_is_held_by_followers(ssh_target, files):
    """Two `logs -f` followers hold both user channels; a third is refused at once; applies,
    deletes and clock changes (service commands) run side by side at their normal speed."""
    shell = RemoteShell(dataclasses.replace(ssh_target, pool_size=4, user_read_channels=2, user_read_wait=0.5))
    release = files("release")
    followers = []
    try:
        for _ in range(2):
            follower = shell.stream(held_until(release, files("started")), purpose=USER_READ)
            followers.append(follower)
            assert follower.get_line(timeout=10) == "started"
        began = time.monotonic()
        with pytest.raises(ReadChannelsBusy):
            shell.stream("echo never", purpose=USER_READ)
        assert time.monotonic() - began < 4.0
        with pytest.raises(ReadChannelsBusy):
            shell.run("echo never", purpose=USER_READ)

        results: list[str] = []
        workers = [threading.Thread(target=lambda n=n: results.append(
            shell.run(f"sleep 0.3; echo {n}", timeout=10).stdout)) for n in range(2)]
        began = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(15)
        assert sorted(results) == ["0\n", "1\n"] and time.monotonic() - began < 8.0
        # a follower that ends gives its channel back: a new read is admitted
        open(release, "w").close()
        for follower in followers:
            assert follower.wait(10) == 0
        assert shell.run("echo again", purpose=USER_READ).stdout == "again\n"
    finally:
        open(release, "w").close()
        for follower in followers:
            follower.close()
        shell.close()


def test_a_follower_takes_an_idle_shells_place_so_the_master_never_sees_more_than_pool_size(tmp_path, files):
    """sshd allowing exactly pool_size sessions: two warm shells, then a follower, then service
    work; before, the follower opened a third channel beyond the pool and sshd refused it."""
    with PrivateSSHD(tmp_path / "sshd", max_sessions=2) as sshd:
        shell = RemoteShell(sshd.target(connect_timeout=5.0, pool_size=2, user_read_channels=1, user_read_wait=1.0))
        release = files("release")
        try:
            warm = [threading.Thread(target=shell.run, args=("sleep 0.2",)) for _ in range(2)]
            for thread in warm:
                thread.start()
            for thread in warm:
                thread.join(10)
            with shell.stream(held_until(release, files("started")), purpose=USER_READ) as follower:
                assert follower.get_line(timeout=10) == "started"
                assert shell.run("echo applied", timeout=10).stdout == "applied\n"
                open(release, "w").close()
                assert follower.wait(10) == 0
        finally:
            open(release, "w").close()
            shell.close()


def test_a_stream_holds_at_most_max_buffered_unread_bytes_and_loses_no_line(remote_shell):
    """A follower nobody reads for a while: the reader stops at the bound (the remote side waits,
    SSH flow control), then every line arrives, in order."""
    count, bound = 400_000, 64 * 1024  # about 2.7 MB of lines
    with remote_shell.stream(f"seq 1 {count}", max_buffered=bound, purpose=USER_READ) as stream:
        wait_for(stream.stalled.is_set, 20, "the reader to stop at its bound")
        assert stream.buffered_bytes <= bound
        expected = 1
        while (line := stream.get_line(timeout=20)) is not None:
            assert line == str(expected)
            expected += 1
            if expected % 50_000 == 0:
                assert stream.buffered_bytes <= bound
        assert expected == count + 1
        assert stream.wait(10) == 0


def test_a_user_read_purpose_must_be_one_of_the_vocabulary(remote_shell):
    with pytest.raises(ValueError):
        remote_shell.run("true", purpose="logs")
