"""core.idle: /proc/net/tcp parsing (real samples), the probe's block format, idle transitions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from island_ssh.core import idle
from island_ssh.core.errors import ConfigError

# Captured on this machine (Debian 12, x86_64): a listener on [::]:30003 (0x7533) reached over
# 127.0.0.1 (an IPv4-mapped v6 socket) and over ::1; a listener on 127.0.0.11:30004 (0x7534), one
# client connected, one closed (TIME_WAIT). The kernel pads v4 lines with trailing spaces.
TCP4 = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   2: 0B00007F:7534 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 33964 1 00000000e9493cca 100 0 0 10 0                     
  10: 0100007F:E3E0 0B00007F:7534 01 00000000:00000000 00:00000000 00000000     0        0 33965 2 00000000c48eb48f 20 0 0 10 -1                     
  11: 0B00007F:7534 0100007F:E3E4 06 00000000:00000000 03:0000176F 00000000     0        0 0 3 0000000032674046                                      
  13: 0100007F:9846 0100007F:7533 01 00000000:00000000 00:00000000 00000000     0        0 33960 2 00000000609c5e13 20 0 0 10 -1                     
  15: 0B00007F:7534 0100007F:E3E0 01 00000000:00000000 00:00000000 00000000     0        0 33966 1 00000000d2881508 20 0 0 10 -1                     
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   1: 00000000000000000000000000000000:7533 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 33959 1 00000000fd73daee 100 0 0 10 0
   3: 0000000000000000FFFF00000100007F:7533 0000000000000000FFFF00000100007F:9846 01 00000000:00000000 00:00000000 00000000     0        0 33961 1 00000000000b3c87 20 0 0 10 -1
   4: 00000000000000000000000001000000:7533 00000000000000000000000001000000:DBE0 01 00000000:00000000 00:00000000 00000000     0        0 33963 1 00000000c60d5487 20 0 0 10 -1
   5: 00000000000000000000000001000000:DBE0 00000000000000000000000001000000:7533 01 00000000:00000000 00:00000000 00000000     0        0 33962 2 000000002348a04b 20 0 0 10 -1
"""
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def test_real_v4_table_decodes_addresses_ports_and_states():
    table = idle.parse_tcp_table(TCP4)
    assert table.headers == 1 and table.bad_lines == 0 and len(table.entries) == 5
    listen = table.entries[0]
    assert (listen.local_ip, listen.local_port, listen.state, listen.established) == ("127.0.0.11", 30004, "0A", False)
    server_side = table.entries[4]
    assert (server_side.local_ip, server_side.local_port, server_side.remote_ip, server_side.remote_port) == \
        ("127.0.0.11", 30004, "127.0.0.1", 0xE3E0)
    assert table.entries[2].state == "06"  # TIME_WAIT


def test_real_v6_table_with_mapped_v4_and_loopback():
    table = idle.parse_tcp_table(TCP6)
    assert table.headers == 1 and table.bad_lines == 0
    assert [e.local_ip for e in table.entries] == ["::", "::ffff:127.0.0.1", "::1", "::1"]
    assert table.entries[1].remote_ip == "::ffff:127.0.0.1" and table.entries[1].remote_port == 0x9846


def test_counts_only_established_connections_on_the_islands_local_ports():
    table = idle.parse_tcp_table(TCP4 + TCP6)
    assert table.headers == 2
    # 30003: the mapped-v4 server socket and the ::1 server socket; the client sockets whose
    # REMOTE port is 30003 (local 0x9846, 0xDBE0) do not count, nor does the listener
    assert idle.established_by_port(table.entries, (30003,)) == {30003: 2}
    # 30004: one established server socket; the listener and the TIME_WAIT one do not count
    assert idle.established_by_port(table.entries, (30004, 30005)) == {30004: 1, 30005: 0}
    # another island's ports see nothing of these (the shared host table of the sandbox)
    assert idle.established_by_port(table.entries, (30006, 30007, 30008)) == {30006: 0, 30007: 0, 30008: 0}


@pytest.mark.parametrize("line", [
    "   0: 0100007F:7534 00000000000000000000000000000000:0000 01 0 0",  # mixed address lengths
    "   0: 0100007F:7534 0100007F:E3E0",                                   # no state
    "   0: 0100007F:75 0100007F:E3E0 01",                                  # short port
    "   0: 0100007G:7534 0100007F:E3E0 01",                                # not hex
    "x: 0100007F:7534 0100007F:E3E0 01",
    "$(id) `rm -rf /` ; 0100007F:7534",
    "岛 0100007F:7534 0100007F:E3E0 01",
    "   0: 0100007F:7534 0100007F:E3E0 01" + " 0" * 400,                  # over MAX_LINE
    "\x1b]0;title\x07   0: 0100007F:7534 0100007F:E3E0 01",
])
def test_garbled_and_hostile_lines_are_counted_and_skipped(line):
    table = idle.parse_tcp_table(TCP4 + line + "\n")
    assert table.bad_lines == 1 and len(table.entries) == 5
    assert idle.established_by_port(table.entries, (30004,)) == {30004: 1}


def test_a_text_without_a_header_is_not_a_table():
    assert idle.parse_tcp_table("hello\nworld\n").headers == 0
    with pytest.raises(Exception):
        idle.parse_tcp_table(b"bytes")  # type: ignore[arg-type]


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_without_raising(text):
    table = idle.parse_tcp_table(text)
    assert table.headers + table.bad_lines + len(table.entries) <= len(text.splitlines())


def test_port_pattern_and_header_pattern_keep_exactly_the_islands_lines():
    import re
    keep = re.compile(idle.port_pattern((30004, 30005, 30006)))
    header = re.compile(idle.HEADER_PATTERN)
    kept = [line for line in (TCP4 + TCP6).splitlines() if keep.search(line) or header.search(line)]
    assert len(kept) == 2 + 3  # the two headers; listener, TIME_WAIT and server socket of 30004
    assert "(7534|7535|7536)" in idle.port_pattern((30006, 30004, 30005, 30004))


# -- the probe's output ------------------------------------------------------------------------
B, E = "ISLAND_IDLE_B_abc", "ISLAND_IDLE_E_abc"
PORTS = {0: (30003, 30004, 30005), 1: (30006, 30007, 30008), 2: (30009, 30010, 30011)}


def block(i, body, code=0):
    return f"{B} {i}\n{body}{E} {i} {code}\n"


def test_probe_output_blocks_parse_per_pod():
    out = block(0, TCP4 + TCP6) + block(1, TCP4) + block(2, "", code=1)
    found = idle.parse_probe_output(out, B, E, PORTS)
    assert found[0].known and found[0].counts == {30003: 2, 30004: 1, 30005: 0} and found[0].active
    assert found[1].known and found[1].established == 0 and not found[1].active
    assert not found[2].known and "exited 1" in found[2].error


@pytest.mark.parametrize("out, why", [
    (block(0, TCP4)[:-len(f"{E} 0 0\n")], "not closed"),                 # cut
    (f"{B} 0\n{TCP4}{B} 1\n{TCP4}{E} 1 0\n", "not closed"),             # BEGIN inside a block
    (f"{B} 0\n{TCP4}{E} 1 0\n", "out of order"),                        # END of another index
    (f"{B} 0\n{TCP4}{E} 0 x\n", "out of order"),                        # exit code not a number
    (block(0, "no table here\n"), "no table header"),
    (block(0, TCP4) + block(0, TCP4), "twice"),
    ("", "no answer"),
])
def test_broken_blocks_are_unknown_never_idle(out, why):
    found = idle.parse_probe_output(out, B, E, {0: PORTS[0]})
    assert not found[0].known and why in found[0].error
    assert idle.advance(idle.IdleRecord(), found[0], now=T0, ready_at=T0 - timedelta(days=1),
                        idle_after=1, max_gap=1e9) == idle.IdleRecord()


def test_markers_of_another_run_or_forged_lines_are_table_lines():
    other = "ISLAND_IDLE_E_zzz 0 0\n"
    found = idle.parse_probe_output(f"{B} 0\n{TCP4}{other}{E} 0 0\n", B, E, {0: PORTS[0]})
    assert found[0].known and found[0].bad_lines == 1
    assert idle.parse_probe_output(f"{B} 7\n{E} 7 0\n", B, E, {0: PORTS[0]})[0].error.startswith("no answer")


# -- transitions ---------------------------------------------------------------------------------
def known(n):
    return idle.Observation(True, {30003: n, 30004: 0, 30005: 0})


def step(rec, obs, at, ready=T0, after=60, gap=3600):
    return idle.advance(rec, obs, now=at, ready_at=ready, idle_after=after, max_gap=gap)


def test_a_fresh_island_is_not_idle_before_idle_after_since_ready():
    r = step(idle.IdleRecord(), known(0), T0 + timedelta(seconds=30))
    assert not r.idle and r.quiet_since == T0
    r = step(r, known(0), T0 + timedelta(seconds=59))
    assert not r.idle
    r = step(r, known(0), T0 + timedelta(seconds=60))
    assert r.idle and r.idle_since == T0
    assert idle.idle_seconds(r, T0 + timedelta(hours=2, minutes=10)) == 7800
    assert idle.as_json(r, T0 + timedelta(hours=2, minutes=10))["idle_text"] == "idle 2h 10m"


def test_activity_resets_and_the_quiet_period_starts_again():
    r = step(idle.IdleRecord(), known(0), T0 + timedelta(seconds=70))
    assert r.idle
    r = step(r, known(2), T0 + timedelta(seconds=80))
    assert not r.idle and r.last_activity_at == T0 + timedelta(seconds=80) and r.quiet_since is None
    r = step(r, known(0), T0 + timedelta(seconds=90))
    assert not r.idle and r.quiet_since == T0 + timedelta(seconds=80)
    r = step(r, known(0), T0 + timedelta(seconds=140))
    assert r.idle and r.idle_since == T0 + timedelta(seconds=80)


def test_unknown_keeps_the_last_state_either_way():
    busy = step(idle.IdleRecord(), known(1), T0 + timedelta(seconds=10))
    assert step(busy, idle.unknown("exec failed"), T0 + timedelta(hours=5)) == busy
    assert step(busy, None, T0 + timedelta(hours=5)) == busy
    quiet = step(idle.IdleRecord(), known(0), T0 + timedelta(seconds=100))
    assert quiet.idle and step(quiet, idle.unknown("x"), T0 + timedelta(hours=5)) == quiet


def test_a_blind_gap_restarts_the_quiet_period():
    r = step(idle.IdleRecord(), known(0), T0 + timedelta(seconds=10), gap=100)
    r = step(r, known(0), T0 + timedelta(seconds=500), gap=100)  # no known check for 490 s
    assert not r.idle and r.quiet_since == T0 + timedelta(seconds=500)
    # the first check long after ready is blind too: nothing was watched before it
    assert not step(idle.IdleRecord(), known(0), T0 + timedelta(days=1), gap=100).idle


def test_expiry_warns_first_then_expires_after_the_grace():
    r = step(idle.IdleRecord(), known(0), T0 + timedelta(seconds=70))
    assert idle.expiry_step(r, now=T0, expire=False, grace=30) is None
    assert idle.expiry_step(r, now=T0, expire=True, grace=30) == "warn"
    warned = idle.IdleRecord(**{**r.__dict__, "warned_at": T0 + timedelta(seconds=70)})
    assert idle.expiry_step(warned, now=T0 + timedelta(seconds=99), expire=True, grace=30) is None
    assert idle.expiry_step(warned, now=T0 + timedelta(seconds=100), expire=True, grace=30) == "expire"
    # still idle: the warning is kept; activity clears it
    assert step(warned, known(0), T0 + timedelta(seconds=120)).warned_at == warned.warned_at
    assert step(warned, known(1), T0 + timedelta(seconds=120)).warned_at is None


@pytest.mark.parametrize("text, seconds", [("2h", 7200), ("30s", 30), ("1h30m", 5400), ("1d", 86400)])
def test_duration_settings(text, seconds):
    assert idle.duration_setting("idle_after", text) == seconds


@pytest.mark.parametrize("text", ["0", "-1h", "1e9", "٣h", "$(id)", "2h\n3h", "", "9" * 40, "+2h"])
def test_bad_duration_settings_name_the_setting(text):
    with pytest.raises(ConfigError) as exc:
        idle.duration_setting("idle_after", text)
    assert "islands.idle_after" in exc.value.message and "\n" not in exc.value.message


def test_idle_text():
    assert [idle.idle_text(s) for s in (None, 5, 60, 7800, 7200, 90000, 86400)] == \
        ["", "5s", "1m", "2h 10m", "2h", "1d 1h", "1d"]


# -- which islands a run probes ---------------------------------------------------------------
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def test_the_probe_period_is_a_fraction_of_idle_after_but_never_under_the_interval():
    assert idle.probe_period("auto", idle_after=7200, interval=60) == 600
    assert idle.probe_period(None, idle_after=240, interval=60) == 60  # short idle_after: every run
    assert idle.probe_period("30m", idle_after=7200, interval=60) == 1800
    with pytest.raises(ConfigError, match="idle_probe_every"):
        idle.probe_period("often", idle_after=7200, interval=60)


def test_the_run_cap_is_twice_the_steady_share_and_at_least_one_batch():
    assert idle.run_cap(1000, batch_max=50, interval=60, period=600) == 200
    assert idle.run_cap(500, batch_max=50, interval=60, period=600) == 100
    assert idle.run_cap(30, batch_max=50, interval=60, period=600) == 50
    assert idle.run_cap(7, batch_max=1, interval=60, period=600) == 2  # rounded up, never 0


def test_only_due_islands_are_probed_oldest_first_up_to_the_cap():
    ago = lambda s: T0 - timedelta(seconds=s)  # noqa: E731
    candidates = [("fresh", ago(100)), ("old", ago(900)), ("never", None), ("older", ago(5000)),
                  ("just", ago(595))]  # 595 >= 0.95 x 600: the run one period later takes it
    assert idle.due(candidates, now=T0, period=600, cap=10) == ["never", "older", "old", "just"]
    assert idle.due(candidates, now=T0, period=600, cap=2) == ["never", "older"]
    assert idle.due(candidates, now=T0, period=600, cap=0) == []
    assert idle.due([("fresh", ago(100))], now=T0, period=600, cap=10) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 10_000)), max_size=40), st.integers(1, 3600), st.integers(0, 50))
def test_due_never_picks_a_fresh_island_nor_skips_an_older_due_one(ages, period, cap):
    candidates = [(i, None if a is None else T0 - timedelta(seconds=a)) for i, a in enumerate(ages)]
    picked = idle.due(candidates, now=T0, period=period, cap=cap)
    eligible = [i for i, a in enumerate(ages) if a is None or a >= 0.95 * period]
    assert len(picked) == min(cap, len(eligible)) and set(picked) <= set(eligible)
    age = lambda i: float("inf") if ages[i] is None else ages[i]  # noqa: E731
    left = set(eligible) - set(picked)
    assert all(age(p) >= age(o) for p in picked for o in left)
