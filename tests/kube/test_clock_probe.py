"""ClockProbe on the sandbox: one kubectl exec over the real SSH connection into a real island's
server container (real libfaketime), and the reading is what the island's own server answers to
``time`` (ask_time), under offsets, a freeze and a speed factor. Another island reads real time
throughout."""

from __future__ import annotations

import time

import pytest

from fixtures.island import ask_time, wait_until
from island_ssh.core.errors import ClockFileMismatch, ClockFileUnwritable, InvalidInput
from island_ssh.core.names import SERVER_CONTAINER
from island_ssh.kube.clock_probe import ClockProbe
from island_ssh.service.check import OK
from island_ssh.service.doctor_clock import check_island_clock
from island_ssh.service.islands import LaunchRequest

pytestmark = pytest.mark.slow


def server_epoch(row) -> float:
    """What the island's server reads (its answer is rounded to the millisecond)."""
    return ask_time(row.host_ip, row.ports[2])["epoch"]


@pytest.fixture(scope="module")
def islands(island_env):
    a, b = island_env.service.launch_many([LaunchRequest(owner="clock-a", branch="dev"),
                                           LaunchRequest(owner="clock-b", branch="dev")])
    a, b = island_env.wait_state(a.island_id, "ready"), island_env.wait_state(b.island_id, "ready")
    yield a, b
    island_env.cleanup()


@pytest.fixture()
def probe(island_env):
    return ClockProbe(island_env.kubectl, island_env.settings.islands.faketime_file)


def assert_other_reads_real_time(row):
    before = time.time()
    read = server_epoch(row)
    assert before - 0.01 <= read <= time.time() + 0.01


def test_a_reading_is_what_the_island_server_reads(islands, probe):
    a, b = islands
    reading = probe.write(a.pod_name, a.island_id, "offset +0 10")
    assert reading.file_text == "+0 x10" and reading.pid == 1 and reading.preload.endswith("libfaketime.so.1")
    wait_until(lambda: server_epoch(a) - time.time() > 2, reading.show_within + 3, "island a runs x10")
    before = server_epoch(a) - 0.001
    reading = probe.read(a.pod_name, a.island_id)
    after = server_epoch(a) + 0.001
    assert before <= reading.island <= after
    # and the reading's model (S, x10) predicts what the server answers next
    t0 = time.time()
    answer = server_epoch(a)
    t1 = time.time()
    low = reading.island + (t0 - reading.real_after) * 10
    high = reading.island + (t1 - reading.real_before) * 10
    assert low - 0.01 <= answer <= high + 0.01
    predicted = reading.server_start + (reading.real_mid - reading.server_start) * 10
    assert abs(predicted - reading.island) <= 10 * reading.uncertainty + 9 * reading.server_start_error + 0.02
    assert_other_reads_real_time(b)


def test_an_offset_and_a_freeze_show_in_the_server_within_the_bound(islands, probe):
    a, b = islands
    reading = probe.write(a.pod_name, a.island_id, "offset -86400 1")
    assert abs(reading.offset + 86400) < 0.5
    written = time.monotonic()
    wait_until(lambda: abs(server_epoch(a) - time.time() + 86400) < 0.5, reading.show_within + 1, "offset shows")
    assert time.monotonic() - written <= reading.show_within + 0.5
    frozen = probe.write(a.pod_name, a.island_id, "frozen 1631941190")
    assert frozen.island == 1631941190.0 and frozen.file_text == "2021-09-18 04:59:50"
    wait_until(lambda: server_epoch(a) == 1631941190.0, frozen.show_within + 1, "the freeze shows")
    assert probe.read(a.pod_name, a.island_id).island == 1631941190.0
    assert_other_reads_real_time(b)
    probe.write(a.pod_name, a.island_id, "offset +0 1")


def test_hostile_specs_travel_as_data_through_ssh_and_kubectl(islands, probe, island_env):
    a, _ = islands
    probe.write(a.pod_name, a.island_id, "offset +5 1")
    for spec in ("offset +1 1$(touch /tmp/pwned)", "offset +1 1'; touch /tmp/pwned; '", "frozen `touch /tmp/pwned`",
                 "offset +1 1\ntouch /tmp/pwned"):
        with pytest.raises(InvalidInput):
            probe.write(a.pod_name, a.island_id, spec)
    listing = island_env.kubectl.exec(a.pod_name, SERVER_CONTAINER, ["ls", "-A", "/tmp"]).stdout.split()
    assert "pwned" not in listing
    assert probe.read(a.pod_name, a.island_id).file_text == "+5 x1"


def test_a_file_the_server_does_not_read_is_refused(islands, island_env):
    a, _ = islands
    with pytest.raises(ClockFileMismatch, match="/tmp/other.rc"):
        ClockProbe(island_env.kubectl, "/tmp/other.rc").read(a.pod_name, a.island_id)


def test_doctor_finds_the_preload_in_the_newest_island(islands, island_env):
    check = check_island_clock(island_env.kubectl, island_env.settings.islands.faketime_file)
    assert check.status == OK, check.detail
    assert "runs under" in check.detail and "pid 1" in check.detail


def test_an_unwritable_clock_file_is_caught_and_the_clock_is_unchanged(island_env, probe):
    row = island_env.service.launch(LaunchRequest(owner="clock-c", branch="dev"))
    row = island_env.wait_state(row.island_id, "ready")
    clock = island_env.settings.islands.faketime_file
    # the file is replaced by a directory: nothing can be written there any more
    island_env.kubectl.exec(row.pod_name, SERVER_CONTAINER, ["sh", "-c", 'rm -f "$1" && mkdir "$1"', "x", clock])
    with pytest.raises(ClockFileUnwritable, match="is a directory"):
        probe.write(row.pod_name, row.island_id, "offset +3600 1")
    assert abs(server_epoch(row) - time.time()) < 1
    island_env.service.delete(row.island_id)
