"""The stand-in island server as a real process: its queries, its failure modes, its clock."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from island_sandbox.island_server import DEFAULT_PORTS, parse_settings
from island_sandbox.kubelet_harness import free_ports, random_node_ip

HOST = random_node_ip()
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


class Server:
    def __init__(self, ports, env=None, args=()):
        self.ports = ports
        full_env = {"PATH": os.environ["PATH"], "ISLAND_PORTS": " ".join(map(str, ports)), "SANDBOX_POD_IP": HOST,
                    **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "island_sandbox.island_server", *args],
                                     env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.output = b""

    def read_until(self, marker: str, timeout: float = 10.0) -> str:
        """Collect stdout until ``marker`` shows up (or the process ends); fails after timeout."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while marker.encode() not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"{marker!r} not printed within {timeout}s; output: {self.output.decode()!r}"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.output += chunk
        return self.output.decode()

    def query(self, line: str, port: int | None = None) -> dict:
        with socket.create_connection((HOST, port or self.ports[0]), timeout=5) as sock:
            sock.sendall(line.encode() + b"\n")
            return json.loads(sock.makefile("rb").readline())

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()


@pytest.fixture
def start_server():
    started = []

    def start(env=None, args=()):
        server = Server(free_ports(HOST), env, args)
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


def test_answers_the_time_on_every_port_and_logs_each_query(start_server):
    server = start_server(env={"ISLAND_ID": "269"})
    server.read_until("listening")
    for port in server.ports:
        reply = server.query("time", port)
        assert reply["port"] == port and reply["island"] == "269"
        assert abs(reply["epoch"] - time.time()) < 5
        assert reply["now"][:10] == time.strftime("%Y-%m-%d")
    assert server.query("ping")["pong"] is True
    assert "unknown query" in server.query("bogus")["error"]
    out = server.read_until("'bogus'")
    assert f"listening on {HOST} ports {' '.join(map(str, server.ports))}" in out
    assert out.count("'time' ->") == 3


@pytest.mark.parametrize("query, code", [("crash 3", 3), ("exit", 0)])
def test_query_crash_and_exit(start_server, query, code):
    server = start_server()
    server.read_until("listening")
    assert server.query(query)["ok"] == query
    assert server.wait() == code


def test_failure_from_env_after_a_delay(start_server):
    server = start_server(env={"ISLAND_SERVER_FAIL": "crash:4", "ISLAND_SERVER_FAIL_AFTER": "0.3"})
    server.read_until("listening")
    assert server.query("time")["port"] == server.ports[0]   # still serving before the delay
    assert server.wait() == 4
    assert "crashing with exit code 4" in server.read_until("stopped")


def test_listen_after_delays_the_ports(start_server):
    server = start_server(env={"ISLAND_SERVER_LISTEN_AFTER": "0.5"})
    server.read_until("starting")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, server.ports[2]), timeout=1).close()
    server.read_until("listening")
    assert server.query("time", server.ports[2])["port"] == server.ports[2]


def test_eat_holds_resident_memory(start_server):
    server = start_server()
    server.read_until("listening")
    assert server.query("eat 40")["holding_mib"] == 40
    rss_kib = int(next(line.split()[1] for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS:")))
    assert rss_kib > 40 * 1024


def test_sigterm_exits_143_like_a_jvm(start_server):
    server = start_server()
    server.read_until("listening")
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait() == 143


# libfaketime on the host leaves its files in /dev/shm for a moment: never beside a test that counts them
@pytest.mark.xdist_group("host_dev_shm")
def test_runs_under_libfaketime_and_shows_the_islands_clock(start_server, tmp_path):
    if not Path(FAKETIME_LIB).exists():
        pytest.skip("libfaketime is not installed")
    clock = tmp_path / "server-faketime.rc"
    clock.write_text("@2021-09-18 23:30:07\n")
    server = start_server(env={"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": str(clock),
                               "FAKETIME_DONT_RESET": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                               "FAKETIME_CACHE_DURATION": "1"},
                          args=["269", "false", "1269"])
    server.read_until("listening")
    reply = server.query("time")
    assert reply["now"].startswith("2021-09-18T23:3") and reply["island"] == "269"
    server.query("crash 0")
    assert server.wait() == 0
    shm = {f"faketime_shm_{server.proc.pid}", f"sem.faketime_sem_{server.proc.pid}"}
    for leftover in shm:
        Path("/dev/shm", leftover).unlink(missing_ok=True)   # this test ran it outside a container


def test_settings_from_args_and_env():
    assert parse_settings([], {}).ports == DEFAULT_PORTS
    derived = parse_settings(["269", "false", "1269"], {})
    assert (derived.ports, derived.island, derived.host) == ((30807, 30808, 30809), "269", "0.0.0.0")
    env = parse_settings([], {"ISLAND_PORTS": "1 2 3", "NODE_IP": "127.0.0.9", "SANDBOX_POD_IP": "127.0.0.11",
                              "ISLAND_SERVER_FAIL": "eat:3000", "ISLAND_SERVER_FAIL_AFTER": "2"})
    assert (env.ports, env.host, env.fail, env.fail_after) == ((1, 2, 3), "127.0.0.11", "eat:3000", 2.0)
    assert parse_settings(["--ports", "5", "6", "--host", "127.0.0.5", "--island", "7"], {}).ports == (5, 6)
