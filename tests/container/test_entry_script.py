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


# -- the token stays out of argv and out of the game server's environment (issue 11) -------------
TOKEN = "Tok3n-" + "s" * 26

FAKE_CURL = r"""#!/bin/sh
# records what a real curl would be handed: its argv, its environment, and the header file it is
# pointed at (content and modes), then answers as curl -w would
out=$RECORD_DIR
i=0
for arg in "$@"; do i=$((i + 1)); printf '%s\n' "$arg" >> "$out/argv"; done
tr '\0' '\n' < /proc/$$/environ > "$out/curl-environ"
cat /proc/$$/cmdline | tr '\0' '\n' > "$out/cmdline"
prev=
for arg in "$@"; do
    if [ "$prev" = "-H" ]; then
        case $arg in @*) f=${arg#@}; cat "$f" > "$out/header"; stat -c '%a' "$f" > "$out/header-mode";
                         stat -c '%a' "$(dirname "$f")" > "$out/dir-mode"; printf '%s\n' "$f" > "$out/header-path" ;; esac
    fi
    prev=$arg
done
printf '{"ok": true}\nHTTP_STATUS=%s' "${FAKE_STATUS:-200}"
"""


def fake_curl_env(tmp_path):
    bin_dir, record, tmp = tmp_path / "bin", tmp_path / "record", tmp_path / "tmp"
    for d in (bin_dir, record, tmp):
        d.mkdir()
    curl = bin_dir / "curl"
    curl.write_text(FAKE_CURL)
    curl.chmod(0o755)
    server_env = tmp_path / "server-environ"
    return record, tmp, server_env, {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "RECORD_DIR": str(record), "TMPDIR": str(tmp),
        "ISLAND_TOKEN": TOKEN,
        # the game server: what it was started with, read from the kernel, and what TMPDIR holds
        "SERVER_COMMAND": f"sh -c 'tr \"\\0\" \"\\n\" < /proc/$$/environ > {server_env}; ls -A {tmp}' server",
    }


def test_the_token_is_never_on_curls_command_line_and_reaches_it_in_a_private_file(tmp_path):
    record, tmp, _, env = fake_curl_env(tmp_path)
    proc, _ = run_entry(tmp_path, "http://127.0.0.1:9", "269", "false", "1269", **env)
    assert proc.returncode == 0, proc.stderr
    argv = (record / "argv").read_text()
    assert TOKEN not in argv and TOKEN not in (record / "cmdline").read_text()
    assert TOKEN not in (record / "curl-environ").read_text()
    assert (record / "header").read_text() == f"Authorization: Bearer {TOKEN}\n"
    assert (record / "header-mode").read_text().strip() == "600"
    assert (record / "dir-mode").read_text().strip() == "700"
    assert (record / "header-path").read_text().startswith(str(tmp))


def test_the_game_server_starts_without_the_token_and_the_file_is_gone(tmp_path):
    record, tmp, server_env, env = fake_curl_env(tmp_path)
    proc, _ = run_entry(tmp_path, "http://127.0.0.1:9", "269", "false", "1269", **env)
    assert proc.returncode == 0, proc.stderr
    environ = server_env.read_text()
    assert "SERVER_COMMAND=" in environ  # it is the exec'd server's environment
    assert TOKEN not in environ and "ISLAND_TOKEN" not in environ
    assert list(tmp.iterdir()) == []  # the header file's directory was removed before the exec
    assert "island-entry: starting: sh -c" in proc.stdout and TOKEN not in proc.stdout + proc.stderr


@pytest.mark.parametrize("status", ["409", "400", "403"])
def test_any_refusal_fails_at_once_and_leaves_no_token_file(tmp_path, status):
    record, tmp, server_env, env = fake_curl_env(tmp_path)
    proc, _ = run_entry(tmp_path, "http://127.0.0.1:9", "269", "false", "1269", FAKE_STATUS=status, **env)
    assert proc.returncode == 1 and f"registration refused by http://127.0.0.1:9/api/islands/269/register: " \
        f"HTTP {status}" in proc.stderr
    assert len((record / "argv").read_text().split("\n-X\n")) == 2  # one attempt, no retries
    assert list(tmp.iterdir()) == [] and not server_env.exists()


def test_a_token_with_a_line_break_is_refused_before_any_header_is_written(tmp_path):
    record, tmp, _, env = fake_curl_env(tmp_path)
    env["ISLAND_TOKEN"] = TOKEN + "\r\nX-Injected: 1"
    proc, _ = run_entry(tmp_path, "http://127.0.0.1:9", "269", "false", "1269", **env)
    assert proc.returncode == 1 and "line break" in proc.stderr
    assert not (record / "argv").exists() and list(tmp.iterdir()) == []
