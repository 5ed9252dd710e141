"""Several server processes on one database: `island-ssh serve` (waitress) beside gunicorn with two
workers (island_ssh_web.wsgi), each with its own SSH connection and tracker. One launch through
the first must reach the event streams of the others, whichever process holds the tracker lock."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import yaml

from web_support import LIU, bearer, wait_for, web_settings

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, env, log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its workers, nothing else
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def up(url: str) -> bool:
    try:
        return requests.get(f"{url}/api/me", headers=bearer(LIU), timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def servers(island_env, tmp_path_factory):
    if shutil.which("gunicorn", path=str(VENV_BIN)) is None:
        pytest.skip("gunicorn is not installed (pip install gunicorn)")
    folder = tmp_path_factory.mktemp("workers")
    settings = web_settings(island_env.settings)
    config = folder / "island.yaml"
    sections = {k: v for k, v in dataclasses.asdict(settings).items() if isinstance(v, dict)}
    config.write_text(yaml.safe_dump(sections, allow_unicode=True))
    env = {**os.environ, "ISLAND_SSH_CONFIG": str(config), "ISLAND_SSH_WEB_SECRET_KEY": "shared-by-all-workers-0123456789abcdef"}
    ports = free_port(), free_port()
    procs = [
        start([str(VENV_BIN / "island-ssh"), "serve", "--port", str(ports[0])], env, folder / "serve.log"),
        start([str(VENV_BIN / "gunicorn"), "-w", "2", "-k", "gthread", "--threads", "4", "--graceful-timeout", "5",
               "-b", f"127.0.0.1:{ports[1]}", "island_ssh_web.wsgi:app"], env, folder / "gunicorn.log"),
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for url, proc, log in zip(urls, procs, ("serve.log", "gunicorn.log")):
            wait_for(lambda: up(url) or proc.poll() is not None, 60, f"{url} to serve")
            assert proc.poll() is None, (folder / log).read_text()[-3000:]
        yield urls
    finally:
        for proc in procs:
            stop(proc)
        island_env.cleanup()


def follow(url: str, into: list, stop_reading: threading.Event) -> None:
    try:
        with requests.get(f"{url}/api/events", headers=bearer(LIU), stream=True, timeout=30) as response:
            for line in response.iter_lines(decode_unicode=True):
                if stop_reading.is_set():
                    return
                if line.startswith("data: {\"event\""):
                    into.append(json.loads(line[6:]))
    except Exception:  # the stream ends (stream_seconds) or is closed by the test
        return


def test_a_launch_through_one_process_is_seen_live_by_the_others(servers, island_env):
    serve_url, gunicorn_url = servers
    streams = {f"{url}#{n}": [] for url in (serve_url, gunicorn_url) for n in range(3)}
    stop_reading = threading.Event()
    readers = [threading.Thread(target=follow, args=(key.split("#")[0], seen, stop_reading), daemon=True)
               for key, seen in streams.items()]
    for reader in readers:
        reader.start()
    try:
        r = requests.post(f"{gunicorn_url}/api/islands", json={"branch": "dev"}, headers=bearer(LIU), timeout=60)
        assert r.status_code == 201, r.text
        island_id = r.json()["id"]
        try:
            island_env.wait_state(island_id, "ready", timeout=60)
        except AssertionError as exc:  # say where it stopped: the history and who follows the watch
            history = [(e.to_state, e.reason, e.message) for e in island_env.store.events(island_id)]
            raise AssertionError(f"{exc}; history {history}; this process's tracker acting: "
                                 f"{island_env.tracker.acting.is_set()}, last error {island_env.tracker.last_error}")
        for key, seen in streams.items():
            wait_for(lambda: any(m["event"]["island_id"] == island_id and m["event"]["to_state"] == "ready"
                                 for m in seen), 10, f"stream {key} to see island {island_id} ready")
        # transitions were written once, by the one tracker holding the lock
        states = [e.to_state for e in island_env.store.events(island_id)]
        assert states.count("ready") == 1 and states.count("applying") == 1
        assert requests.delete(f"{serve_url}/api/islands/{island_id}", headers=bearer(LIU), timeout=30).status_code == 202
        island_env.wait_state(island_id, "deleted", timeout=60)
    finally:
        stop_reading.set()
