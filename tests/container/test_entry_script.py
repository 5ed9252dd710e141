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
        Registrar.seen.append((self.path, self.headers.get("Authorization"), urllib.parse.parse_qs(body, keep_blank_values=True)))
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


# -- the start clock's restart forms, read by a real process under the real libfaketime (issue 13) --
from fixtures.preload_ns import preload_ns_usable, server_env as preload_env  # noqa: E402

SERVER_READS = ("import sys, time; print('island-now %.6f' % time.time()); "
                "print('clock-file ' + open(sys.argv[1]).read().strip())")


def run_preloaded_entry(tmp_path, url, start_clock):
    """entry.sh as PID 1 of a private mount+PID namespace (own /dev/shm), preloaded as in the pod;
    the 'server' prints what it reads and the clock file. Returns (proc, real before, real after)."""
    why = preload_ns_usable()
    if why:
        pytest.skip(why)
    import shlex
    import sys
    import time
    clock = tmp_path / "clock.rc"
    env = {"PATH": os.environ["PATH"], "curlServer": url, "ISLAND_TOKEN": "t0k", "HOSTNAME": "altraserver-x-dev-269",
           "SERVER_COMMAND": f"{shlex.quote(sys.executable)} -I -S -c {shlex.quote(SERVER_READS)} {shlex.quote(str(clock))}",
           **preload_env(str(clock))}
    assigns = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    inner = (f"mount -t tmpfs tmpfs /dev/shm && exec env -i {assigns} sh {shlex.quote(str(ENTRY))} "
             f"269 false 1269 {shlex.quote(start_clock)}")
    before = time.time()
    proc = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", inner],
                          capture_output=True, text=True, timeout=60)
    return proc, before, time.time()


def island_now(proc) -> float:
    line = next(l for l in proc.stdout.splitlines() if l.startswith("island-now "))
    return float(line.split()[1])


def clock_file_text(proc) -> str:
    return next(l for l in proc.stdout.splitlines() if l.startswith("clock-file ")).split(" ", 1)[1]


def test_no_start_clock_is_real_time(tmp_path, registrar):
    proc, before, after = run_preloaded_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}", "")
    assert proc.returncode == 0, proc.stderr
    assert clock_file_text(proc) == "+0" and before <= island_now(proc) <= after


def test_the_seeds_start_time_starts_there(tmp_path, registrar):
    proc, before, after = run_preloaded_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}",
                                              "2021-09-18 04:59:50")
    assert proc.returncode == 0, proc.stderr
    assert clock_file_text(proc) == "@2021-09-18 04:59:50"
    assert 1631941190 <= island_now(proc) <= 1631941190 + (after - before)


@pytest.mark.parametrize("arg,offset", [("+3600 x1", 3600), ("-86400.5 x1", -86400.5), ("+0 x1", 0)])
def test_an_offset_is_written_as_it_is(tmp_path, registrar, arg, offset):
    proc, before, after = run_preloaded_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}", arg)
    assert proc.returncode == 0, proc.stderr
    assert clock_file_text(proc) == arg
    assert before + offset <= island_now(proc) <= after + offset


def test_equals_epoch_freezes(tmp_path, registrar):
    proc, _, _ = run_preloaded_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}", "=1631941190")
    assert proc.returncode == 0, proc.stderr
    assert clock_file_text(proc) == "2021-09-18 04:59:50" and island_now(proc) == 1631941190.0


@pytest.mark.parametrize("rate", ["1", "10", "0.5"])
def test_tilde_continues_a_clock_at_its_speed(tmp_path, registrar, rate):
    # the island read F at real time T (5 minutes ago), running at R: now it reads F + (now - T) * R
    import time
    f, t = 1631941190.25, time.time() - 300
    proc, before, after = run_preloaded_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}",
                                              f"~{f} {t} {rate}")
    assert proc.returncode == 0, proc.stderr
    r = float(rate)
    assert clock_file_text(proc).endswith(f" x{rate}") and clock_file_text(proc)[0] in "+-"
    low, high = f + (before - t) * r, f + (after - t) * r
    # besides the bracket, an error in the measured start S counts (R - 1) times: the calibration
    # brackets it between two spawns (a few ms; tens of ms on a loaded machine)
    slack = 0.01 + abs(r - 1) * 0.03
    assert low - slack <= island_now(proc) <= high + slack, (low, island_now(proc), high)


@pytest.mark.parametrize("bad", [
    "+1 x2", "=-5", "=2147483648", "=1.5", "~1 2", "~1 2 0", "~a b c", "~1 2 3 4", "~99999999999 0 1",
    "$(id)", "+1; x1", "+1\nx1", "2021-09-18 23:30:07\n", "2021-09-18T23:30:07", "时钟", "@now", "+1e3 x1",
    "- x1", "+. x1", "~1\n2\n3",
])
def test_a_start_clock_it_does_not_know_is_refused_in_one_line(tmp_path, bad):
    proc, clock = run_entry(tmp_path, "http://127.0.0.1:9", "269", "false", "1269", bad)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "start clock" in lines[0] and "expected nothing" in lines[0], proc.stderr
    assert "server args" not in proc.stdout and not clock.exists()


# -- the code version (issue 15): the mounted version file's first line, sent with the registration --
def run_with_version(tmp_path, registrar, content: bytes | None, **env):
    version_file = tmp_path / "code" / "VERSION"
    version_file.parent.mkdir(exist_ok=True)
    if content is not None:
        version_file.write_bytes(content)
    proc, _ = run_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}", "269", "false", "1269",
                        ISLAND_CODE_VERSION_FILE=str(version_file), **env)
    assert proc.returncode == 0, proc.stderr
    (_, _, form), = Registrar.seen
    return proc, form.get("code_version", [""])[0], "code_version" in form


@pytest.mark.parametrize("content, sent", [
    (b"abc123\n", "abc123"),
    (b"def456", "def456"),                                   # no line break at the end
    (b"v1.2.3+build:45/x@y#7\r\nsecond line\n", "v1.2.3+build:45/x@y#7"),  # first line only, CRLF
    (b"  build 1234  \n", "build 1234"),                   # spaces trimmed; one inside kept
    (b"", ""), (b"\n\nlater\n", ""),                       # empty / blank first line: no version
    (b"a" * 128 + b"\n", "a" * 128),
])
def test_the_version_files_first_line_is_read_and_sent(tmp_path, registrar, content, sent):
    proc, got, present = run_with_version(tmp_path, registrar, content)
    assert present and got == sent
    assert f"code version: {sent or '(no version file)'}" in proc.stdout


def test_a_missing_version_file_is_no_version_and_no_error(tmp_path, registrar):
    proc, got, present = run_with_version(tmp_path, registrar, None)
    assert present and got == "" and "server args: 269" in proc.stdout


@pytest.mark.parametrize("content", [
    b"$(id)\n", b"`id`\n", b"it's\n", b'"quoted"\n', b"a;reboot\n", b"key: [1, 2]\n", b"tab\there\n",
    b"nul\x00byte\n", b"\x1b[31mred\n", "刘电波\n".encode(), "v1\u00a0nbsp\n".encode(), b"a  b\n",
    b"a" * 129 + b"\n", b"x" * 5_000_000, b"\xff\xfe\n",
])
def test_hostile_content_is_sent_as_unreadable_never_as_itself(tmp_path, registrar, content):
    proc, got, _ = run_with_version(tmp_path, registrar, content)
    assert got == "!unreadable"
    assert "code version: !unreadable" in proc.stdout and "server args: 269" in proc.stdout
    assert "uid=" not in proc.stdout + proc.stderr  # $(id) / `id` never ran


def test_a_version_path_that_is_a_directory_is_unreadable(tmp_path, registrar):
    (tmp_path / "code" / "VERSION").mkdir(parents=True)
    proc, _ = run_entry(tmp_path, f"http://127.0.0.1:{registrar.server_port}", "269", "false", "1269",
                        ISLAND_CODE_VERSION_FILE=str(tmp_path / "code" / "VERSION"))
    assert proc.returncode == 0 and Registrar.seen[0][2]["code_version"] == ["!unreadable"]


def test_the_script_and_the_core_judge_every_file_alike(tmp_path, registrar):
    from island_ssh.core.code_version import parse_file
    for content in (b"abc\n", b" x y \r\n", b"$(id)", b"\n", b"a" * 130, "é".encode(), b"a\x01"):
        Registrar.seen.clear()
        _, got, _ = run_with_version(tmp_path, registrar, content)
        assert got == parse_file(content), content
