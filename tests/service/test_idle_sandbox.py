"""Idle detection on the sandbox: real TCP connections to an island's host port, seen from inside
its server container (/proc/net/tcp through kubectl exec over the one SSH connection), a batch of
islands in ONE remote command, an exec that fails stays unknown, idle expiry deletes (IdleExpired);
a run that is not forced probes only the islands due (islands.idle_probe_every), oldest first."""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import threading
import urllib.request

import pytest

from fixtures.island import IslandEnv, make_settings, wait_until
from island_sandbox.product import running_product
from island_ssh.core.settings import WebhookSettings
from island_ssh.testing import free_port
from island_ssh.service.islands import LaunchRequest

pytestmark = pytest.mark.slow

IDLE_AFTER = 4
ISLANDS = {"id_min": 700, "id_max": 719, "idle_after": f"{IDLE_AFTER}s", "idle_check_interval": "1h",
           "idle_grace": "1s", "idle_probe_every": "1s"}
"""Ids (host ports) no other module hands out; the thread's interval is long, the tests call
check_all(force=True) themselves; a probe period of 1s makes every island due at each unforced run
unless a test sets its own."""
TOKEN = "idle-test-token-0123456789abcdef0123"
WEB = {"users": {TOKEN: "tester"}, "secret_key": "idle-test-secret-key-0123456789abcdef"}


class Receiver:
    """A real webhook receiver on 127.0.0.1: every JSON body posted to it, in order."""

    def __init__(self):
        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def env(sandbox_info, db_settings):
    receiver = Receiver()
    web_port = free_port()
    settings = make_settings(db_settings, sandbox_info, web_port, web=WEB, **ISLANDS).replace(
        notify={"webhooks": [WebhookSettings(name="receiver", url=receiver.url, preset="json",
                                             events=["idle", "expired"])],
                "poll_interval": 0.2})
    try:
        with running_product(settings, web_port, watch_timeout=30) as runtime:
            env = IslandEnv(settings, sandbox_info, runtime, web_port)
            env.receiver = receiver
            try:
                rows = env.service.launch_many([LaunchRequest(owner="刘电波", branch="dev"),
                                                LaunchRequest(owner="idle-b", branch="dev"),
                                                LaunchRequest(owner="idle-c", branch="weekly")])
                env.islands = [env.wait_state(r.island_id, "ready", timeout=90) for r in rows]
                yield env
            finally:
                env.cleanup()
    finally:
        receiver.close()


def connect(row) -> socket.socket:
    """A player: a kept-open connection to the island's first port, answered once (established)."""
    sock = socket.create_connection((row.host_ip, row.ports[0]), timeout=5)
    sock.sendall(b"ping\n")
    assert sock.makefile("rb").readline()
    return sock


def check(env):
    before = dict(env.kubectl.commands)
    report = env.service.idle.check_all(force=True)
    spent = {k: v - before.get(k, 0) for k, v in env.kubectl.commands.items() if v != before.get(k, 0)}
    return report, spent


def row_of(env, island_id):
    return env.store.get(island_id)


def db_seconds_since(env, moment) -> float:
    return (env.store.idle.now() - moment).total_seconds()


def test_a_connected_island_is_active_and_becomes_idle_after_the_window_once_closed(env):
    a, b, c = env.islands
    player = connect(a)
    try:
        report, spent = check(env)
        # three islands on two nodes: ONE remote command (the batch script), no exec of its own
        assert spent == {"script": 1} and report.remote_commands == 1 and report.checked == 3
        assert a.island_id in report.active and not report.unknown
        assert b.island_id not in report.active and c.island_id not in report.active
        # connected for longer than the window: never idle, its last activity keeps moving
        def long_enough():
            rep, _ = check(env)
            assert a.island_id in rep.active and a.island_id not in rep.idle
            return db_seconds_since(env, row_of(env, a.island_id).ready_at) > IDLE_AFTER + 1
        wait_until(long_enough, 60, "island a connected past idle_after")
        row = row_of(env, a.island_id)
        assert row.idle_since is None and db_seconds_since(env, row.last_activity_at) < 5
        # the quiet ones are idle by now (ready longer than the window, no connection)
        wait_until(lambda: b.island_id in check(env)[0].idle, 30, "island b idle")
    finally:
        player.close()
    closed_at = env.store.idle.now()

    def a_idle():
        rep, _ = check(env)
        return a.island_id in rep.idle and rep
    wait_until(a_idle, 60, "island a idle after its player left")
    row = row_of(env, a.island_id)
    # idle from its last seen activity, and not before the window passed after the close
    assert row.idle_since == row.last_activity_at and db_seconds_since(env, closed_at) >= IDLE_AFTER - 2
    detail = env.service.idle.status(row, env.store.idle.now())
    assert detail["idle"] and detail["idle_text"].startswith("idle ")
    # a player again: active at the next check, not idle any more
    again = connect(a)
    try:
        report, _ = check(env)
        assert a.island_id in report.active and row_of(env, a.island_id).idle_since is None
    finally:
        again.close()


def test_the_api_and_the_listing_show_idleness(env):
    a, b, _ = env.islands
    wait_until(lambda: b.island_id in check(env)[0].idle, 30, "island b idle")
    listing = env.service.idle.listing()
    ids = [i["id"] for i in listing["islands"]]
    assert b.island_id in ids and listing["idle_after_seconds"] == IDLE_AFTER
    for path in (f"/api/islands/{b.island_id}", "/api/idle"):
        request = urllib.request.Request(f"http://127.0.0.1:{env.web_port}{path}",
                                          headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            body = json.loads(resp.read())
        shown = body["idle"] if "idle" in body else [i for i in body["islands"] if i["id"] == b.island_id][0]
        assert shown["idle"] is True and shown["idle_text"].startswith("idle ")


def test_the_cli_checks_and_lists_with_json(env, tmp_path):
    from service.recovery_helpers import island_ssh_cmd, write_config
    _, b, _ = env.islands
    config = write_config(env.settings, tmp_path / "island.yaml")
    done = island_ssh_cmd(config, "idle", "--check", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["check"]["ran"] and data["check"]["remote_commands"] == 1 and data["check"]["checked"] == 3
    assert b.island_id in [i["id"] for i in data["islands"]] and data["idle_after_seconds"] == IDLE_AFTER
    shown = island_ssh_cmd(config, "idle")
    assert shown.returncode == 0 and f"idle after {IDLE_AFTER}s" in shown.stdout
    assert any(line.split()[0] == str(b.island_id) for line in shown.stdout.splitlines()[1:] if line.strip())


def test_the_recover_job_runs_the_check_once_per_interval(env):
    from island_ssh.service.recovery import recover
    _, b, _ = env.islands
    env.store.db.transaction(lambda cur: cur.execute("DELETE FROM island_idle_runs"))
    for row in env.islands:
        set_record(env, row, checked_ago=60, quiet_ago=60)  # due (probe period 1s), quiet > idle_after
    first = recover(env.runtime)
    assert first.idle and first.idle["checked"] == 3 and first.idle["remote_commands"] == 1
    assert b.island_id in first.idle["idle"] and any(line.startswith("  idle check: 3 ready islands")
                                                      for line in first.summary_lines())
    assert recover(env.runtime).idle is None  # within islands.idle_check_interval: not again


def test_a_pod_whose_exec_fails_is_unknown_in_the_same_single_command(env):
    a, b, c = env.islands
    ghost = dataclasses.replace(b, island_id=719, pod_name="altraserver-nobody-dev-719", port_base=30000 + 3 * 719)
    before = dict(env.kubectl.commands)
    report = env.service.idle.check([a, ghost, c], env.store.idle.now())
    assert sum(env.kubectl.commands.values()) - sum(before.values()) == 1
    assert set(report.unknown) == {719} and "exited" in report.unknown[719]
    assert a.island_id not in report.unknown and c.island_id not in report.unknown


def set_record(env, row, *, checked_ago: float, quiet_ago: float | None = None) -> None:
    """Give the island a record last checked (and quiet since) this many seconds ago, not idle."""
    env.store.db.transaction(lambda cur: cur.execute(
        "UPDATE islands SET idle_generation = generation, "
        "activity_checked_at = UTC_TIMESTAMP(6) - INTERVAL %s SECOND, "
        "quiet_since = IF(%s IS NULL, NULL, UTC_TIMESTAMP(6) - INTERVAL %s SECOND), "
        "idle_since = NULL, last_activity_at = NULL, idle_warned_at = NULL WHERE island_id = %s AND state = 'ready'",
        (int(checked_ago), quiet_ago, int(quiet_ago or 0), row.island_id)))


@pytest.fixture
def tuned(env):
    """The env's IdleService with a probe period and cap the test sets; the probe's scripts as
    sent (the real probe still runs them); restored afterwards."""
    idle, probe = env.service.idle, env.service.idle.probe
    saved = idle.period, idle.batch_max
    scripts = []
    real = probe.script

    def script(targets, token):
        scripts.append(real(targets, token))
        return scripts[-1]

    probe.script = script
    idle.scripts = scripts
    try:
        yield idle
    finally:
        vars(probe).pop("script", None)
        idle.period, idle.batch_max = saved
        del idle.scripts


def unforced_run(env, idle):
    """One run as the thread or the recover job makes it (the interval's claim cleared first):
    its report and the kubectl execs its remote script(s) held."""
    env.store.db.transaction(lambda cur: cur.execute("DELETE FROM island_idle_runs"))
    idle.scripts.clear()
    report = idle.check_all()
    assert report.ran
    return report, sum(s.count(" exec ") for s in idle.scripts)


HOUR = 3600


def test_a_run_probes_only_the_due_islands_oldest_first_up_to_its_cap(env, tuned):
    a, _, c = env.islands
    ready = [r for r in env.service.list(states=["ready"]) if r.pod_name and r.ports]
    tuned.period, tuned.batch_max = 100 * HOUR, 1  # cap: max(1 batch, 2 x 3 islands x 1h / 100h) = 1
    for row in ready:
        set_record(env, row, checked_ago=HOUR)  # not due
    set_record(env, c, checked_ago=200 * HOUR)
    report, execs = unforced_run(env, tuned)
    assert (report.checked, report.ready, execs) == (1, len(ready), 1)
    assert db_seconds_since(env, row_of(env, c.island_id).activity_checked_at) < 60
    assert db_seconds_since(env, row_of(env, a.island_id).activity_checked_at) > HOUR - 60  # not probed
    assert any(f"1 ready islands (of {len(ready)}; the others not due)" in line for line in report.lines())

    # both due, the cap takes one: the one probed longest ago
    set_record(env, a, checked_ago=300 * HOUR)
    set_record(env, c, checked_ago=200 * HOUR)
    report, execs = unforced_run(env, tuned)
    assert (report.checked, execs) == (1, 1)
    assert db_seconds_since(env, row_of(env, a.island_id).activity_checked_at) < 60
    assert db_seconds_since(env, row_of(env, c.island_id).activity_checked_at) > 200 * HOUR - 60

    # nothing due (c, left over, probed an hour ago): a run probes nothing, sends nothing
    set_record(env, c, checked_ago=HOUR)
    report, execs = unforced_run(env, tuned)
    assert (report.checked, report.remote_commands, execs) == (0, 0, 0)

    # --check (force) probes every ready island, due or not, in one remote command
    tuned.scripts.clear()
    forced, spent = check(env)
    assert forced.checked == len(ready) and spent == {"script": 1}
    assert sum(s.count(" exec ") for s in tuned.scripts) == len(ready)


def test_a_long_gap_restarts_the_quiet_period_only_when_it_is_one(env, tuned):
    _, _, c = env.islands
    tuned.period = 10 * HOUR  # the gap is 3 probe periods (30h), not 3 check intervals (3h)
    set_record(env, c, checked_ago=15 * HOUR, quiet_ago=16 * HOUR)
    report = tuned.check([row_of(env, c.island_id)])
    row = row_of(env, c.island_id)
    assert c.island_id in report.idle and abs(db_seconds_since(env, row.quiet_since) - 16 * HOUR) < 120
    assert row.idle_since == row.quiet_since  # quiet for 16h > idle_after: idle since then

    set_record(env, c, checked_ago=40 * HOUR, quiet_ago=41 * HOUR)
    report = tuned.check([row_of(env, c.island_id)])
    row = row_of(env, c.island_id)
    assert db_seconds_since(env, row.quiet_since) < 60  # blind for 40h: the quiet period starts now
    assert c.island_id not in report.idle and row.idle_since is None


def test_idle_expiry_warns_then_deletes_with_reason_idle_expired(env):
    idle = env.service.idle
    _, b, _ = env.islands
    idle.expire = True
    try:
        first = wait_until(lambda: (r := check(env)[0]) and (b.island_id in r.warned or
                                                             row_of(env, b.island_id).idle_warned_at) and r,
                           30, "the idle warning")
        assert row_of(env, b.island_id).state == "ready"  # warned, not yet deleted
        wait_until(lambda: b.island_id in check(env)[0].expired or row_of(env, b.island_id).state != "ready",
                   30, "the idle expiry")
        row = env.wait_state(b.island_id, "deleted", timeout=60)
        reasons = [e.reason for e in env.store.events(b.island_id, generation=row.generation)]
        assert "IdleExpired" in reasons
        assert first is not None
        # the webhook receiver got the idle warning first, then the expiry (reason IdleExpired)
        got = wait_until(lambda: (bodies := [x for x in env.receiver.bodies if str(x.get("island_id")) ==
                                             str(b.island_id)]) and len(bodies) >= 2 and bodies, 30, "both webhooks")
        warning = [x for x in got if x.get("event") == "idle"][0]
        expired = [x for x in got if x.get("event") == "expired"][0]
        assert warning["at"] <= expired["at"] and warning.get("idle_since") and warning.get("expires_at"), got
        assert expired.get("reason") == "IdleExpired", expired
        # the audit trail tells the idle reaper from a person: marked idle, warned, expired
        entries = env.service.audit.query(island_id=b.island_id, actor="idle-reaper")
        actions = [(e["action"], e["detail"].split(":")[0]) for e in reversed(entries)]
        assert ("idle", "warning") in actions and ("expire", "IdleExpired") in actions, actions
    finally:
        idle.expire = False
