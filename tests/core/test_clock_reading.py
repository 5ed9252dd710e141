"""The pure parsing of conf/container/clock.sh's answer (core.clock_reading): strict, so a garbled
answer is never taken for proof of an island's time."""

from __future__ import annotations

import pytest

from island_ssh.core.clock_reading import MARKER, parse_fields, parse_reading
from island_ssh.core.errors import (ClockFileMismatch, ClockFileUnwritable, ClockNotTaken, InvalidInput,
                                    PreloadMissing, UnreadableOutput)

GOOD = {
    "main_pid": "1", "main_exe": "/usr/bin/java", "main_preload": "1", "main_dynamic": "1", "main_go": "0",
    "pid": "1", "shm": "/faketime_shm_1", "preload": "/usr/lib64/faketime/libfaketime.so.1",
    "clock_file": "/tmp/server-faketime.rc", "cache_duration": "1", "no_cache": "", "file": "+0 x10",
    "real_before": "1796298509.169118692", "island": "1796298510.157301771", "real_after": "1796298509.175751069",
    "calibration": "1796298509.290386549", "calibration_after": "1796298509.178873405",
}


def output(fields=GOOD, before="Warning: something kubectl said\n"):
    return before + MARKER + "\n" + "".join(f"{k}={v}\n" for k, v in fields.items())


def test_a_reading():
    r = parse_reading(output(), 7)
    assert (r.pid, r.preload, r.clock_file, r.cache_duration, r.no_cache, r.file_text) == \
        (1, "/usr/lib64/faketime/libfaketime.so.1", "/tmp/server-faketime.rc", 1.0, False, "+0 x10")
    assert r.island == 1796298510.157301771 and r.real_before < r.real_mid < r.real_after
    # S = (calibration window's two ends) - calibration reading
    assert r.server_start == pytest.approx(1796298509.175751069 + 1796298509.178873405 - 1796298509.290386549)
    assert r.cache_bound == 1.0 and r.show_within == 2.0
    assert r.facts.main_preload and not r.facts.main_go
    assert set(r.as_dict()) >= {"real_before", "island", "real_after", "server_start", "pid", "preload"}


def test_the_calibration_rate():
    c = 1796298500.0 + (1796298509.18 - 1796298500.0) * 10   # S = ...500.0, read at t = ...509.18 under x10
    r = parse_reading(output({**GOOD, "real_after": "1796298509.17", "calibration_after": "1796298509.19",
                              "calibration": f"{c:.6f}", "calibration_rate": "10"}))
    assert r.server_start == pytest.approx(1796298500.0, abs=1e-5)
    with pytest.raises(UnreadableOutput):
        parse_reading(output({**GOOD, "calibration_rate": "1"}))


def test_defaults_of_the_cache():
    r = parse_reading(output({**GOOD, "cache_duration": ""}))
    assert r.cache_duration is None and r.cache_bound == 10.0 and r.show_within == 11.0
    r = parse_reading(output({**GOOD, "no_cache": "1"}))
    assert r.no_cache and r.show_within == 0.0


@pytest.mark.parametrize("code,cls", [("no-preload", PreloadMissing), ("file-mismatch", ClockFileMismatch),
                                      ("unwritable", ClockFileUnwritable), ("bad-spec", InvalidInput)])
def test_refusals_become_the_familys_errors(code, cls):
    fields = {k: v for k, v in GOOD.items() if not k.startswith(("real", "island", "calib"))}
    with pytest.raises(cls) as info:
        parse_reading(output({**fields, "error": f"{code} some words"}), 7, "/tmp/server-faketime.rc")
    assert "island 7" in info.value.message and "some words" in info.value.message
    assert info.value.island_id == 7
    if cls is not InvalidInput:
        assert isinstance(info.value, ClockNotTaken)


@pytest.mark.parametrize("text", [
    "", "no marker at all\npid=1\n", output(before="") + "garbage line\n", output({**GOOD, "island": "soon"}),
    output({**GOOD, "island": "1e9"}), output({**GOOD, "island": "nan"}), output({**GOOD, "pid": ""}),
    output({**GOOD, "pid": "-1"}), output({**GOOD, "main_go": "yes"}), output({**GOOD, "error": "weird thing"}),
    output({**GOOD, "real_after": "1796298400.0"}), output({k: v for k, v in GOOD.items() if k != "calibration"}),
    output() + "pid=2\n", output({**GOOD, "island": "1" * 40}), output() + "Key=1\n",
    output({**GOOD, "island": "1796298510.157301771\r"}),
])
def test_garbled_output_is_unreadable(text):
    with pytest.raises(UnreadableOutput):
        parse_reading(text, 7)


def test_only_lines_after_the_marker_count():
    fields = parse_fields("pid=99\nerror=no-preload forged\n" + output())
    assert fields["pid"] == "1" and "error" not in fields


def test_not_text():
    with pytest.raises(UnreadableOutput):
        parse_reading(b"bytes")  # type: ignore[arg-type]
