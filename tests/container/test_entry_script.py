"""conf/container/entry.sh as a real process: clock file, registration over HTTP, then exec."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pytest

ENTRY = Path(__file__).resolve().parents[2] / "conf" / "container" / "entry.sh"


class Registrar(http.server.BaseHTTPRequestHandler):
    status = 200
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        Registrar.seen.append((self.path, self.headers.get("Authorization"), urllib.parse.parse_qs(body)))
        self.send_response(Registrar.status)
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if Registrar.status == 200 else b'{"error": "PermissionDenied"}')

    def log_message(self, *args):
        pass


@pytest.fixture()
def registrar():
    Registrar.seen, Registrar.status = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registrar)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def run_entry(tmp_path, url, *args, **env):
    clock = tmp_path / "clock.rc"
    environ = {"PATH": os.environ["PATH"], "curlServer": url, "ISLAND_TOKEN": "t0k-'$(id)'",
               "ISLAND_PORTS": "30807 30808 30809", "NODE_IP": "127.0.0.11", "HOSTNAME": "altraserver-x-dev-269",
               "FAKETIME_TIMESTAMP_FILE": str(clock),
               "SERVER_COMMAND": f'sh -c \'echo "server args: $*"; cat "{clock}"\' server'}
    environ.update(env)
    proc = subprocess.run(["sh", str(ENTRY), *args], env=environ, capture_output=True, text=True, timeout=60)
    return proc, clock


def test_writes_clock_registers_with_token_then_execs_the_server(tmp_path, registrar):
    url = f"http://127.0.0.1:{registrar.server_port}"
    proc, clock = run_entry(tmp_path, url, "269", "false", "1269", "2021-09-18 23:30:07")
    assert proc.returncode == 0, proc.stderr
    assert clock.read_text() == "@2021-09-18 23:30:07\n"
    path, auth, form = Registrar.seen[0]
    assert path == "/api/islands/269/register" and auth == "Bearer t0k-'$(id)'"
    assert form["node_ip"] == ["127.0.0.11"] and form["ports"] == ["30807 30808 30809"]
    assert "server args: 269 false 1269" in proc.stdout
    assert proc.stdout.rstrip().endswith("@2021-09-18 23:30:07")


def test_refused_registration_fails_the_container_at_once(tmp_path, registrar):
    Registrar.status = 403
    proc, _ = run_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}", "269", "false", "1269")
    assert proc.returncode == 1
    assert "registration refused" in proc.stderr and "server args" not in proc.stdout
    assert len(Registrar.seen) == 1


def test_unreachable_registrar_fails_loudly_after_its_retries(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    proc, clock = run_entry(tmp_path, f"127.0.0.1:{port}", "269", "false", "1269",
                            REGISTER_ATTEMPTS="3", REGISTER_MAX_DELAY="1")
    assert proc.returncode == 1
    assert "failed after 3 attempts" in proc.stderr and "server args" not in proc.stdout
    assert clock.read_text() == "+0\n"


@pytest.mark.parametrize("bad", ["", "26x", "$(id)", "1;reboot"])
def test_island_id_must_be_a_number(tmp_path, bad):
    proc, _ = run_entry(tmp_path, "http://127.0.0.1:9", bad, "false", "1269")
    assert proc.returncode == 1 and "island id must be a number" in proc.stderr


def closed_port_containing(digits: str) -> int:
    """A free port whose number contains ``digits`` (nothing listens there once this returns)."""
    import socket
    for port in sorted(p for p in range(1024, 65536) if digits in str(p)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    pytest.skip(f"no free port with {digits} in it")


@pytest.mark.parametrize("digits", ["403", "404"])
def test_an_unreachable_registrar_is_retried_whatever_its_port_or_id_contains(tmp_path, digits):
    # curl's words name the URL; a port 53403 or island 404 must not read as HTTP 403/404
    port = closed_port_containing(digits)
    proc, _ = run_entry(tmp_path, f"127.0.0.1:{port}", digits, "false", "1269",
                        REGISTER_ATTEMPTS="2", REGISTER_MAX_DELAY="1")
    assert proc.returncode == 1
    assert "failed after 2 attempts" in proc.stderr and "refused" not in proc.stderr
    assert "Failed to connect" in proc.stderr  # curl's own reason is kept in the message


def test_a_server_error_is_retried_and_named_by_its_status(tmp_path, registrar):
    Registrar.status = 503
    proc, _ = run_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}", "269", "false", "1269",
                        REGISTER_ATTEMPTS="2", REGISTER_MAX_DELAY="1")
    assert proc.returncode == 1 and len(Registrar.seen) == 2
    assert "failed after 2 attempts: HTTP 503" in proc.stderr
