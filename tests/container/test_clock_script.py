"""conf/container/clock.sh against real processes under the real libfaketime, each in a private
mount+PID namespace shaped like a sandbox server container (tests/fixtures/preload_ns.py).

The proof asked of it: the island reading is what the server itself reads at that instant (the
server is asked before and after), including under a speed factor, where a process that does not
share the server's libfaketime memory reads something else."""

from __future__ import annotations

import shutil
import time

import pytest

from island_ssh.core.clock_reading import parse_fields, parse_reading
from island_ssh.core.errors import (ClockFileMismatch, ClockFileUnwritable, InvalidInput, PreloadMissing,
                                    UnreadableOutput)
from island_ssh.testing.waiting import wait_for

from fixtures.preload_ns import FAKETIME_LIB, server_env

CLOCK = "/tmp/server-faketime.rc"


def start(preloaded_container, content="+0", **kw):
    return preloaded_container(setup=f"printf '%s\\n' '{content}' > {CLOCK}", **kw)


def read(box, file=CLOCK, **kw):
    done = box.clock("read", file, **kw)
    return done, (parse_reading(done.stdout, 7, file) if done.returncode == 0 else None)


def write(box, spec, file=CLOCK):
    done = box.clock("write", file, spec)
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_reading(done.stdout, 7, file)


def test_read_reports_the_server_and_reads_what_it_reads(preloaded_container):
    box = start(preloaded_container, "+3600 x1")
    before = box.ask_time()
    done, reading = read(box)
    after = box.ask_time()
    assert done.returncode == 0, done.stdout + done.stderr
    assert reading.pid == 1 and reading.preload == FAKETIME_LIB and reading.clock_file == CLOCK and reading.shared
    assert reading.cache_duration == 1.0 and reading.show_within == 2.0 and reading.file_text == "+3600 x1"
    assert reading.facts.main_preload and reading.facts.main_dynamic and not reading.facts.main_go
    assert before <= reading.island <= after
    assert abs(reading.offset - 3600) < 0.5
    assert reading.real_before <= reading.real_after


def test_a_speed_factor_reads_exactly_what_the_server_reads(preloaded_container):
    box = start(preloaded_container, "+0 x10")
    # running x10 since it started: it reads ahead of real time, further ahead each moment
    wait_for(lambda: box.ask_time() - time.time() > 0.5, timeout=5, what="the server runs x10")
    before = box.ask_time()
    done, reading = read(box)
    after = box.ask_time()
    assert done.returncode == 0, done.stdout
    assert before <= reading.island <= after          # the server's own clock brackets it
    # a process of its own (not sharing the server's start) reads something else: the test could fail
    alone = box.run(["date", "+%s.%N"], env={**server_env(), "PATH": box.env["PATH"]})
    assert abs(float(alone.stdout) - reading.island) > 0.4
    # S from the calibration: island = S + (t - S) * 10, to within the reading's own bracket (x10)
    predicted = reading.server_start + (reading.real_mid - reading.server_start) * 10
    assert abs(predicted - reading.island) <= 10 * reading.uncertainty + 9 * reading.server_start_error + 0.02


def test_write_offset_changes_what_the_server_reads_within_its_bound(preloaded_container):
    box = start(preloaded_container)
    assert abs(box.ask_time() - time.time()) < 1
    reading = write(box, "offset -86400 1")
    assert reading.file_text == "-86400 x1"
    assert abs(reading.offset + 86400) < 0.5                      # the read-back, at once
    written = time.monotonic()
    wait_for(lambda: abs(box.ask_time() - time.time() + 86400) < 0.5, timeout=reading.show_within + 1.0,
             what="the server reads the new offset")
    assert time.monotonic() - written <= reading.show_within + 0.5


def test_write_frozen_freezes_the_server(preloaded_container):
    box = start(preloaded_container)
    reading = write(box, "frozen 1631941190")
    assert reading.file_text == "2021-09-18 04:59:50" and reading.island == 1631941190.0
    wait_for(lambda: box.ask_time() == 1631941190.0, timeout=reading.show_within + 1.0, what="frozen")


def test_write_speed_then_back_to_x1(preloaded_container):
    box = start(preloaded_container)
    reading = write(box, "offset +0 10")
    assert reading.file_text == "+0 x10"
    predicted = reading.server_start + (reading.real_mid - reading.server_start) * 10
    assert abs(predicted - reading.island) <= 10 * reading.uncertainty + 9 * reading.server_start_error + 0.02
    wait_for(lambda: box.ask_time() - time.time() > 1.0, timeout=reading.show_within + 2.0, what="x10 shows")
    back = write(box, "offset +12.5 1")
    assert back.file_text == "+12.5 x1" and abs(back.offset - 12.5) < 0.1
    wait_for(lambda: abs(box.ask_time() - time.time() - 12.5) < 0.2, timeout=back.show_within + 1.0,
             what="x1 sticks again")


def test_the_server_segment_survives_the_probes(preloaded_container):
    box = start(preloaded_container, "+0 x10")
    for _ in range(3):
        assert read(box)[0].returncode == 0
    listing = box.sh("ls /dev/shm").stdout.split()
    # the server's own, nothing left by the probes (their shell runs without the preload)
    assert sorted(listing) == ["faketime_shm_1", "sem.faketime_sem_1"]
    before = box.ask_time()
    assert before > 0


def test_a_removed_segment_still_gives_a_reading_of_the_file(preloaded_container):
    box = start(preloaded_container, "+60 x1")
    box.sh("rm /dev/shm/faketime_shm_1 /dev/shm/sem.faketime_sem_1")
    done, reading = read(box)
    assert done.returncode == 0, done.stdout
    assert not reading.shared and abs(reading.offset - 60) < 0.5
    assert abs(box.ask_time() - time.time() - 60) < 0.5      # the server goes on with its mapping


def test_a_preloaded_shell_removes_its_own_segment(preloaded_container):
    box = start(preloaded_container)
    done = box.clock("read", CLOCK, preloaded_shell=True)  # a bare kubectl exec: the shell is preloaded
    assert done.returncode == 0, done.stdout
    assert parse_reading(done.stdout).pid == 1          # its own segment is not taken for the server's
    assert sorted(box.sh("ls /dev/shm").stdout.split()) == ["faketime_shm_1", "sem.faketime_sem_1"]


def test_the_script_also_runs_as_the_text_of_sh_c(preloaded_container):
    box = start(preloaded_container, "+60 x1")
    done = box.clock("read", CLOCK, as_argument=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert abs(parse_reading(done.stdout).offset - 60) < 0.5


@pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox")
def test_busybox_sh_reads_and_writes(preloaded_container):
    box = start(preloaded_container)
    done = box.clock("write", CLOCK, "frozen 1631941190", shell=("busybox", "sh"))
    assert done.returncode == 0, done.stdout + done.stderr
    reading = parse_reading(done.stdout)
    assert reading.island == 1631941190.0 and reading.file_text == "2021-09-18 04:59:50"


def test_file_mismatch(preloaded_container):
    box = start(preloaded_container)
    done, _ = read(box, "/tmp/other.rc")
    assert done.returncode == 11
    with pytest.raises(ClockFileMismatch, match="/tmp/other.rc"):
        parse_reading(done.stdout, 7, "/tmp/other.rc")
    assert box.sh(f"cat {CLOCK}").stdout == "+0\n"


def test_unwritable_when_the_file_is_a_directory(preloaded_container):
    box = preloaded_container(setup=f"mkdir {CLOCK}")
    done = box.clock("write", CLOCK, "offset +60 1")
    assert done.returncode == 12
    with pytest.raises(ClockFileUnwritable, match="is a directory"):
        parse_reading(done.stdout, 7, CLOCK)
    assert box.sh(f"ls -A {CLOCK}").stdout == ""      # nothing moved into it


def test_unwritable_on_a_read_only_mount_keeps_the_clock(preloaded_container):
    box = preloaded_container(setup=f"mkdir /tmp/ro; printf '+5 x1\\n' > /tmp/ro/clock.rc; "
                                    f"mount --bind /tmp/ro /tmp/ro; mount -o remount,bind,ro /tmp/ro",
                              env=server_env("/tmp/ro/clock.rc"))
    done = box.clock("write", "/tmp/ro/clock.rc", "offset +60 1")
    assert done.returncode == 12
    with pytest.raises(ClockFileUnwritable, match="Read-only file system"):
        parse_reading(done.stdout, 7, "/tmp/ro/clock.rc")
    _, reading = read(box, "/tmp/ro/clock.rc")
    assert reading.file_text == "+5 x1" and abs(reading.offset - 5) < 0.5


def test_a_file_mounted_on_its_own_is_written_in_place(preloaded_container):
    # mv onto a mount point fails (busy): the script falls back to writing the file itself
    box = preloaded_container(setup=f"printf '+0\\n' > /tmp/src.rc; : > {CLOCK}; mount --bind /tmp/src.rc {CLOCK}")
    reading = write(box, "offset +7 1")
    assert reading.file_text == "+7 x1" and abs(reading.offset - 7) < 0.5
    assert box.sh("cat /tmp/src.rc").stdout == "+7 x1\n"


def test_no_preload(preloaded_container):
    env = server_env()
    del env["LD_PRELOAD"]
    box = preloaded_container(env=env)
    done, _ = read(box)
    assert done.returncode == 10
    with pytest.raises(PreloadMissing, match="doctor"):
        parse_reading(done.stdout, 7, CLOCK)
    facts = parse_fields(box.clock("facts", CLOCK).stdout)
    assert facts["main_pid"] == "1" and facts["main_preload"] == "0" and facts["main_dynamic"] == "1"
    assert facts["pid"] == ""


def test_static_and_go_servers_are_told_apart(preloaded_container, c_time_servers):
    dynamic, static, golike = c_time_servers
    box = preloaded_container(argv=[str(golike)])
    fields = parse_fields(box.clock("facts", CLOCK).stdout)
    assert (fields["main_go"], fields["main_dynamic"], fields["main_preload"]) == ("1", "1", "1")
    if static is None:
        pytest.skip("no static libc to build a static server")
    box = preloaded_container(argv=[str(static)])
    fields = parse_fields(box.clock("facts", CLOCK).stdout)
    assert (fields["main_go"], fields["main_dynamic"], fields["main_preload"]) == ("0", "0", "0")
    assert box.clock("read", CLOCK).returncode == 10


def test_a_c_server_reads_the_same_as_the_probe(preloaded_container, c_time_servers):
    box = preloaded_container(argv=[str(c_time_servers[0])], setup=f"printf '+0 x10\\n' > {CLOCK}")
    wait_for(lambda: box.ask_time() - time.time() > 0.5, timeout=5, what="the server runs x10")
    before = box.ask_time()
    _, reading = read(box)
    after = box.ask_time()
    assert before <= reading.island <= after


# -- every argument is data -----------------------------------------------------------------------
HOSTILE_FILES = ["/tmp/$(touch pwned)", "/tmp/a b;touch pwned", "/tmp/`touch pwned`", "/tmp/时钟.rc",
                 "/tmp/-rf", "/tmp/x'\"$HOME", "/tmp/*", "/tmp/a: [b, {c: d}]"]


@pytest.mark.parametrize("path", HOSTILE_FILES)
def test_hostile_clock_file_paths_are_only_paths(preloaded_container, path):
    box = preloaded_container(env=server_env(path))
    reading = write(box, "offset +30 1", file=path)
    assert reading.clock_file == path and reading.file_text == "+30 x1" and abs(reading.offset - 30) < 0.5
    listing = box.run(["ls", "-A", "/tmp"], env={"PATH": box.env["PATH"]}).stdout.splitlines()
    assert listing == [path[len("/tmp/"):]]                  # the file, and no pwned, no temp left


def test_a_file_in_a_directory_that_is_not_there_is_unwritable(preloaded_container):
    path = "/tmp/$(touch /tmp/pwned)"
    box = preloaded_container(env=server_env(path))
    done = box.clock("write", path, "offset +1 1")
    assert done.returncode == 12
    with pytest.raises(ClockFileUnwritable, match="nonexistent|No such file"):
        parse_reading(done.stdout, 7, path)
    assert box.sh("ls -A /tmp").stdout == ""


def test_a_newline_in_the_file_cannot_forge_a_line(preloaded_container):
    path = "/tmp/x\nerror=no-preload forged"
    box = preloaded_container(env=server_env(path))
    done = box.clock("write", path, "offset +1 1")
    assert done.returncode == 11
    with pytest.raises(ClockFileMismatch):
        parse_reading(done.stdout, 7, path)


@pytest.mark.parametrize("spec", [
    "offset +1 1$(touch /tmp/pwned)", "frozen 1;touch /tmp/pwned", "offset +1 `touch /tmp/pwned`",
    "offset\n+1\n1", "offset +1e9 1", "offset +1 x10", "offset 1 1", "offset +1 0", "offset +1 -1",
    "offset +1 0.000", "offset +.5 1", "frozen -1", "frozen 2147483648", "frozen 99999999999999999999",
    "frozen 1.5", "时钟 +1 1", "", "offset +1 1 1", "offset +" + "9" * 30 + " 1", "frozen", "$(id)",
])
def test_hostile_specs_are_refused_before_anything_is_touched(preloaded_container, spec):
    box = start(preloaded_container, "+3 x1")
    done = box.clock("write", CLOCK, spec)
    assert done.returncode == 13, done.stdout
    with pytest.raises(InvalidInput):
        parse_reading(done.stdout, 7, CLOCK)
    assert box.sh(f"cat {CLOCK}; ls -A /tmp").stdout == "+3 x1\nserver-faketime.rc\n"


def test_a_relative_file_or_unknown_mode_is_refused(preloaded_container):
    box = start(preloaded_container)
    assert box.clock("read", "tmp/clock.rc").returncode == 13
    assert box.clock("$(id)", CLOCK).returncode == 2


def test_output_without_the_marker_is_unreadable():
    with pytest.raises(UnreadableOutput):
        parse_reading("pid=1\nisland=5\n")
