"""Cancelling the sandbox's long-running tasks ends them, wherever the cancel lands.

On Python 3.11 ``asyncio.wait_for`` swallows a cancel that arrives after the awaited future
finished but before ``wait_for`` resumed: it returns the result instead of raising. The kubelet
cancels a container's readiness probe when the container ends and then waits for it; a probe
that survived its cancel ran on forever and held ``stop_pod``, so a deleted pod's DELETED event
came only after the cluster's STOP_SLACK (30 s past the grace period). That is what
tests/faults/test_ssh_cut.py::test_the_watch_after_a_cut_sees_the_next_change caught now and then.
These tests put the cancel exactly in that gap, every time.
"""

from __future__ import annotations

import asyncio

import pytest

from island_sandbox.kubelet import stop_helpers
from island_sandbox.podspec import ProbeSpec
from island_sandbox.probes import run_readiness

ROUNDS = 10
GRACE = 0.5  # seconds a cancelled task may take to end (it needs one turn of the loop)


def run(coro, timeout: float = 60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def probe_spec() -> ProbeSpec:
    return ProbeSpec(kind="tcpSocket", host="127.0.0.1", port=1, initial_delay=0.0, period=0.01, timeout=5.0)


async def ends_after_cancel(task: asyncio.Task) -> bool:
    """True if ``task`` ends within GRACE of one cancel; a survivor is cancelled again (no leak)."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=GRACE)
    if not done:
        task.cancel()  # a second cancel reaches it in its sleep
        await asyncio.wait({task}, timeout=GRACE)
    return bool(done)


async def cancel_probe_after_its_check(check_body, turns: int) -> bool:
    """Run a probe whose check awaits ``check_body(release)``; release the check, let ``turns``
    turns of the loop pass, cancel the probe: did it end?"""
    release, started = asyncio.Event(), asyncio.Event()

    async def check() -> bool:
        started.set()
        return await check_body(release)

    task = asyncio.create_task(run_readiness(probe_spec(), check, lambda ready: None))
    await started.wait()
    release.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    return await ends_after_cancel(task)


async def plain_check(release: asyncio.Event) -> bool:
    await release.wait()
    return True


async def check_built_on_wait_for(release: asyncio.Event) -> bool:
    """A check that itself uses wait_for (as any library code may): on 3.11 it swallows the
    cancel and returns normally; the probe must still stop."""
    return await asyncio.wait_for(plain_check(release), 5.0)


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 4])
def test_a_readiness_probe_cancelled_as_its_check_finishes_ends(turns):
    async def scenario():
        ended = [await cancel_probe_after_its_check(plain_check, turns) for _ in range(ROUNDS)]
        assert all(ended), f"{ended.count(False)} of {ROUNDS} probes outlived their cancel"
    run(scenario())


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 4])
def test_a_readiness_probe_ends_even_if_its_check_swallowed_the_cancel(turns):
    async def scenario():
        ended = [await cancel_probe_after_its_check(check_built_on_wait_for, turns) for _ in range(ROUNDS)]
        assert all(ended), f"{ended.count(False)} of {ROUNDS} probes outlived their cancel"
    run(scenario())


def test_stop_helpers_cancels_again_a_helper_that_outlived_a_cancel():
    """The kubelet's last line: a helper that ignores one cancel is cancelled again, so stop_pod
    is held for about one patience period, not for ever."""
    async def stubborn(swallow: int, record: list[str]) -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                record.append("cancelled")
                if len(record) > swallow:
                    raise

    async def scenario():
        loop = asyncio.get_running_loop()
        records: list[list[str]] = [[], [], []]
        helpers = [asyncio.create_task(stubborn(n, records[n])) for n in range(3)]
        await asyncio.sleep(0)
        started = loop.time()
        await stop_helpers(helpers, "test", patience=0.2, attempts=5)
        took = loop.time() - started
        assert all(h.cancelled() for h in helpers)
        assert [len(r) for r in records] == [1, 2, 3]
        assert took < 1.0, took  # two extra rounds of 0.2 s
    run(scenario())


def test_stop_helpers_gives_up_on_a_helper_that_never_ends():
    async def immortal(record: list[str]) -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                record.append("cancelled")
                if len(record) > 10:  # ends only after the test looked, so nothing leaks
                    raise

    async def scenario():
        record: list[str] = []
        task = asyncio.create_task(immortal(record))
        await asyncio.sleep(0)
        await stop_helpers([task], "test", patience=0.05, attempts=3)
        assert not task.done() and len(record) == 3
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
    run(scenario())
