"""HTTP-level limits of ``island-ssh serve`` (issue 11, hole 5), through real waitress on 127.0.0.1
built by island_ssh_web.serving from WebSettings, the function the CLI calls.

On waitress's defaults a 1 GiB Content-Length was read before Flask could answer 413, and 100
idle connections shut every other client out for 120 s. Each test below measures the behaviour
on the wire (bytes sent, seconds until an answer or a close), never a sleep.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from island_ssh_web import create_app
from island_ssh_web.serving import create_server, waitress_options
from web_support import LIU, service_without_cluster, wait_for, web_settings

GiB = 1024 ** 3


@pytest.fixture()
def serve(store, db_settings):
    """serve(**web) -> (host, port, settings.web) of a running server; all are stopped at the end."""
    running = []

    def start(**web):
        settings = web_settings(db_settings=db_settings, **web)
        app = create_app(settings, service=service_without_cluster(settings, store))
        server = create_server(app, settings.web, host="127.0.0.1", port=0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread, app))
        return "127.0.0.1", server.effective_port, settings.web

    yield start
    for server, thread, app in running:
        server.close()
        thread.join(5)
        app.extensions["island_ssh.service.feed"].close()


def registration(host: str, port: int, timeout: float) -> requests.Response:
    """A pod's registration call (a made-up token: the answer is a refusal, but it is an answer)."""
    return requests.post(f"http://{host}:{port}/api/islands/1/register",
                         headers={"Authorization": "Bearer " + "x" * 40},
                         data={"node_ip": "127.0.0.1", "ports": "30000", "pod_name": "p"}, timeout=timeout)


def read_answer(sock: socket.socket, deadline: float) -> bytes:
    """What the server sends until it closes (or the deadline passes)."""
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_a_body_over_the_limit_is_refused_without_being_read(serve):
    host, port, web = serve(max_body_bytes=1024 * 1024)
    sent = 0
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as sock:
        head = (f"POST /api/islands HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {GiB - 1}\r\n\r\n").encode()  # waitress's default refuses 1 GiB itself
        sock.sendall(head + b"{" * 4096)
        sent += 4096
        answer = read_answer(sock, time.monotonic() + 5)
        # keep offering the body: a server reading it would take all of it; this one has closed
        chunk = b"x" * 65536
        sock.settimeout(2)
        try:
            while sent < 64 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 10
    # the kernel's socket buffers take a few MiB before the refusal shows; 1 GiB is never read
    assert sent < 32 * 1024 * 1024, sent


def test_a_body_at_the_limit_reaches_the_app_and_one_byte_more_does_not(serve):
    host, port, web = serve(max_body_bytes=4096)
    url = f"http://{host}:{port}/api/islands/1/register"
    at_limit = requests.post(url, data=b"a" * 4096, headers={"Content-Type": "text/plain"}, timeout=10)
    assert at_limit.status_code != 413  # the app answered (the token is wrong): not a size refusal
    over = requests.post(url, data=b"a" * 4097, headers={"Content-Type": "text/plain"}, timeout=10)
    assert over.status_code == 413


def test_a_hundred_idle_connections_do_not_shut_out_a_registration(serve):
    host, port, web = serve()  # the shipped defaults
    idle = []
    try:
        for _ in range(110):
            idle.append(socket.create_connection((host, port), timeout=5))
        started = time.monotonic()
        answer = registration(host, port, timeout=30)
        assert answer.status_code in (400, 403, 404, 409), answer.text[:200]
        assert time.monotonic() - started < 5
    finally:
        for sock in idle:
            sock.close()


def test_idle_connections_are_closed_after_the_idle_timeout(serve):
    host, port, web = serve(idle_timeout=2)
    options = waitress_options(web)
    assert options["channel_timeout"] == 2 and options["cleanup_interval"] == 1
    socks = [socket.create_connection((host, port), timeout=5) for _ in range(5)]
    started = time.monotonic()
    try:
        for sock in socks:  # each sees the server's close (EOF) within timeout + cleanup interval + slack
            assert read_answer(sock, started + 2 + 1 + 5) == b""
        assert time.monotonic() - started < 8
    finally:
        for sock in socks:
            sock.close()


def test_beyond_the_connection_limit_a_registration_waits_only_for_the_idle_timeout(serve):
    host, port, web = serve(idle_timeout=2, connection_limit=10)
    idle = [socket.create_connection((host, port), timeout=5) for _ in range(12)]
    try:
        # the server's own sockets count too: these fill the limit, the rest wait in the backlog
        started = time.monotonic()
        answer = registration(host, port, timeout=30)
        assert answer.status_code in (400, 403, 404, 409)
        assert time.monotonic() - started < 2 + 1 + 5
    finally:
        for sock in idle:
            sock.close()


def test_headers_over_the_limit_are_refused(serve):
    host, port, web = serve(max_header_bytes=8192)
    r = requests.get(f"http://{host}:{port}/api/vocabulary", headers={"X-Big": "a" * 16384}, timeout=10)
    assert r.status_code == 431 or r.status_code == 400
    assert requests.get(f"http://{host}:{port}/api/vocabulary", timeout=10).status_code == 200


@pytest.mark.parametrize("field, value", [("max_body_bytes", 10), ("idle_timeout", 0), ("connection_limit", -1),
                                          ("max_header_bytes", "big"), ("threads", True)])
def test_a_bad_limit_is_refused_at_start(db_settings, field, value):
    from island_ssh.core.errors import ConfigError
    settings = web_settings(db_settings=db_settings, **{field: value})
    with pytest.raises(ConfigError, match=f"web.{field}"):
        waitress_options(settings.web)


# -- the command the process manager runs -------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_env(db_settings, web_port: int, **web) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLAND_SSH_")}
    d = db_settings
    env.update({"ISLAND_SSH_DATABASE_HOST": d.host, "ISLAND_SSH_DATABASE_PORT": str(d.port),
                "ISLAND_SSH_DATABASE_USER": d.user, "ISLAND_SSH_DATABASE_PASSWORD": d.password,
                "ISLAND_SSH_DATABASE_NAME": d.name,
                # no master to reach: the tracker retries in the background, the web app serves
                "ISLAND_SSH_SSH_PORT": str(free_port()), "ISLAND_SSH_SSH_CONNECT_TIMEOUT": "1",
                "ISLAND_SSH_WEB_PORT": str(web_port), "ISLAND_SSH_WEB_USERS": json.dumps({LIU: "刘电波"}),
                "ISLAND_SSH_WEB_SECRET_KEY": "serve-test-secret-key-0123456789abcdef"})
    env.update({f"ISLAND_SSH_WEB_{k.upper()}": str(v) for k, v in web.items()})
    return env


def test_island_ssh_serve_applies_the_limits(store, db_settings, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "island-ssh"), "serve"],
                            env=serve_env(db_settings, port, max_body_bytes=4096, idle_timeout=2),
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def up() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                return requests.get(f"http://127.0.0.1:{port}/api/vocabulary", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, 60, "island-ssh serve to answer")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"POST /api/islands HTTP/1.1\r\nHost: x\r\nContent-Length: {GiB - 1}\r\n\r\n".encode()
                         + b"{" * 1024)
            assert read_answer(sock, time.monotonic() + 5).startswith(b"HTTP/1.1 413")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            started = time.monotonic()
            assert read_answer(idle, started + 8) == b""  # closed by the server, not by our deadline
            assert time.monotonic() - started < 2 + 1 + 4
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: that server, nothing else
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_island_ssh_serve_refuses_a_short_secret_key(db_settings):
    env = serve_env(db_settings, free_port())
    env["ISLAND_SSH_WEB_SECRET_KEY"] = "too-short"
    done = subprocess.run([str(Path(sys.executable).parent / "island-ssh"), "serve"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "web.secret_key" in done.stderr and "secrets.token_urlsafe(32)" in done.stderr
    assert "too-short" not in done.stderr + done.stdout
