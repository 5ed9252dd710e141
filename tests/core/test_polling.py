"""core.polling.wait_until, on a clock the test moves: no sleeping through a timeout."""

from __future__ import annotations

import pytest

from island_ssh.core.polling import WaitTimeout, wait_until
from island_ssh.testing.fakes import ManualClock
from island_ssh.testing.waiting import WaitTimeout as WaitTimeoutOfTests


def test_the_first_truthy_value_is_returned():
    clock = ManualClock()
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), 10, "ready", clock=clock, pause=clock.sleep, interval=1) == "ready"
    assert clock() == 3  # three pauses of the given interval, on the given clock


def test_the_timeout_names_what_was_waited_for_and_the_last_pause_is_followed_by_a_check():
    clock = ManualClock()
    checks = []

    def never():
        checks.append(clock())
        return None

    with pytest.raises(WaitTimeout, match=r"timed out after 2.5s waiting for island 7 to be ready") as caught:
        wait_until(never, 2.5, "island 7 to be ready", clock=clock, pause=clock.sleep, interval=1)
    assert checks == [0, 1, 2, 3] and caught.value.what == "island 7 to be ready"
    assert isinstance(caught.value, TimeoutError) and WaitTimeoutOfTests is WaitTimeout
