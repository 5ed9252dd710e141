"""IslandService's waits run on the clock it is given: a real store, the cluster faked, no
sleeping through APPLY_SETTLE_SECONDS or a launch's timeout."""

from __future__ import annotations

import pytest

from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.core.tokens import hash_token
from island_ssh.service.islands import APPLY_SETTLE_SECONDS, IslandService
from island_ssh.testing.fakes import FakeKubectl, ManualClock


@pytest.fixture()
def settings(fresh_store):
    db = fresh_store.settings
    return load_settings(DEFAULT_CONFIG, environ={}).replace(
        database={"name": db.name, "host": db.host, "port": db.port})


def applying_island(store, settings):
    row = store.allocate("刘电波", "dev", lambda i: f"altraserver-liudianbo-dev-{i}", {}, hash_token("t"),
                         settings.islands)
    assert store.transition(row.island_id, row.generation, "applying", "Applying", "")
    return row


def test_deleting_an_island_still_applying_waits_out_the_apply_on_the_clock_then_deletes(fresh_store, settings):
    row = applying_island(fresh_store, settings)
    kubectl = FakeKubectl()
    clock = ManualClock(step=APPLY_SETTLE_SECONDS + 1)  # each reading jumps past the wait
    deleted = IslandService(settings, fresh_store, kubectl, clock=clock).delete(row.island_id)
    assert (deleted.state, deleted.reason) == ("deleted", "NotFound")  # no pod ever came: the id is free
    assert kubectl.verbs == ["delete_pod", "delete_token_secret"]  # the token goes with the island
    assert clock.now == 2 * clock.step  # it did wait: read the clock for its deadline and once past it


def test_wait_returns_a_final_island_at_once_and_any_other_as_it_is_at_the_timeout(fresh_store, settings):
    row = applying_island(fresh_store, settings)
    clock = ManualClock()
    service = IslandService(settings, fresh_store, FakeKubectl(), clock=clock)
    clock.step = 6
    assert service.wait(row.island_id, timeout=5).state == "applying"
    assert fresh_store.transition(row.island_id, row.generation, "deleted", "Deleted", "")
    clock.step = 0  # a final state needs no time at all
    assert service.wait(row.island_id, timeout=5).state == "deleted"
