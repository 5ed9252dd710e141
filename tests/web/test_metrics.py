"""GET /metrics on the whole product (sandbox, real kubectl over the one SSH connection, MariaDB,
the web app serving the pods' registrations): the values move as an island launches and gets
ready, as one fails, and as a recover run repairs; read with Prometheus' own text parser."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from fixtures.island import wait_until
from island_ssh.core.errors import CapacityError, ConfigError, KubectlError
from island_ssh.service.islands import LaunchRequest
from island_ssh.service.recovery import run_recovery
from island_ssh_web import create_app

pytestmark = pytest.mark.slow


def scrape(env, headers=None) -> dict:
    """{(sample name, ((label, value), ...)): value} of one scrape of the running product."""
    r = requests.get(f"http://127.0.0.1:{env.web_port}/metrics", headers=headers or {}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_move_as_islands_launch_fail_and_recover_repairs(island_env):
    env = island_env
    before = scrape(env)
    assert value(before, "island_ssh_store_up") == 1

    ok, bad = env.service.launch_many([
        LaunchRequest(owner="metrics-ok", branch="dev"),
        LaunchRequest(owner="metrics-bad", branch="dev", env={"ISLAND_SERVER_FAIL": "crash:3",
                                                              "ISLAND_SERVER_FAIL_AFTER": "0"})])
    env.wait_state(ok.island_id, "ready")
    env.wait_state(bad.island_id, "failed")
    # the ready island's container registered through this web app: counted once, as ok
    wait_until(lambda: env.store.registration(ok.island_id), 20, "the registration row")
    refused = requests.post(f"http://127.0.0.1:{env.web_port}/api/islands/{ok.island_id}/register",
                            json={"node_ip": "127.0.0.1", "ports": "1,2,3", "pod_name": "x"},
                            headers={"Authorization": "Bearer not-the-token"}, timeout=10)
    assert refused.status_code == 403
    with pytest.raises(KubectlError):
        env.kubectl.run("get", "pods", "--no-such-flag-for-metrics")

    after = scrape(env)
    moved = lambda name, **labels: total(after, name, **labels) - total(before, name, **labels)  # noqa: E731
    # islands by state and branch, from MySQL at scrape time
    assert value(after, "island_ssh_islands", state="ready", branch="dev") == \
        value(before, "island_ssh_islands", state="ready", branch="dev") + 1
    assert value(after, "island_ssh_islands", state="failed", branch="dev") == \
        value(before, "island_ssh_islands", state="failed", branch="dev") + 1
    # launch to ready: one more, for dev; its seconds are what the row says
    assert moved("island_ssh_launch_to_ready_seconds_count", branch="dev") == 1
    row = env.store.get(ok.island_id)
    waited = (row.ready_at - row.created_at).total_seconds()
    assert moved("island_ssh_launch_to_ready_seconds_sum", branch="dev") == pytest.approx(waited, abs=0.01)
    # both islands left allocated, applying and the pod states on their way
    assert moved("island_ssh_state_seconds_count", state="allocated") >= 2
    assert moved("island_ssh_state_seconds_count", state="applying") >= 2
    # one apply for both (group commit), over SSH commands, the tracker timing what it stored
    assert moved("island_ssh_apply_batch_islands_count") >= 1
    assert moved("island_ssh_apply_batch_islands_sum") >= 2
    assert moved("island_ssh_ssh_command_seconds_count", purpose="service") >= 3
    assert moved("island_ssh_tracker_lag_seconds_count") >= 2
    # both containers registered (entry.sh registers, then starts the server that crashes)
    assert moved("island_ssh_registrations_total", result="ok") == 2
    assert moved("island_ssh_registrations_total", result="refused") == 1
    assert moved("island_ssh_kubectl_failures_total", verb="get") == 1
    # the capacity check's listing (no kubectl call per scrape) gave the nodes' memory
    nodes = {dict(ls)["node"] for (n, ls) in after if n == "island_ssh_node_memory_allocatable_bytes"}
    assert row.node in nodes and value(after, "island_ssh_node_memory_allocatable_bytes", node=row.node) > 0
    # that listing came before the pods; the next one (a launch refused for capacity: no pod) counts them
    def listed_again():
        with pytest.raises(CapacityError):
            env.service.launch(LaunchRequest(owner="metrics-big", branch="dev", memory="64Gi"))
        return value(scrape(env), "island_ssh_node_memory_requested_bytes", node=row.node) >= 2 ** 20
    wait_until(listed_again, 15, "a capacity listing that sees the island's memory request")

    # a recover run with no retention for ended servers: the failed island's pod is deleted
    no_retention = env.settings.replace(recover={"retention": 0.0})
    report = run_recovery(no_retention, env.store, env.kubectl, env.service)
    expired = [o for o in report.outcomes if o.action.kind == "expire" and o.action.island_id == bad.island_id]
    # done, or skipped when the tracker stored the pod's end first (both race for the row)
    assert len(expired) == 1 and expired[0].status in ("done", "skipped"), report.summary_lines()
    env.wait_state(bad.island_id, ("deleted", "lost"))
    last = scrape(env)
    status = expired[0].status
    assert total(last, "island_ssh_recover_actions_total", kind="expire", status=status) == \
        total(after, "island_ssh_recover_actions_total", kind="expire", status=status) + 1
    assert value(last, "island_ssh_islands", state="failed", branch="dev") == \
        value(before, "island_ssh_islands", state="failed", branch="dev")
    assert total(last, "island_ssh_state_seconds_count", state="failed") >= \
        total(after, "island_ssh_state_seconds_count", state="failed") + 1
    env.cleanup()


TOKEN = "metrics-token-0123456789abcdef-0123456789"


@pytest.fixture()
def guarded(island_env):
    settings = island_env.settings.replace(web={"metrics_token": TOKEN})
    app = create_app(settings, service=island_env.service)
    yield app.test_client()
    app.extensions["island_ssh.service.feed"].close()


@pytest.mark.parametrize("header", [
    None, "Bearer ", f"Bearer {TOKEN}x", f"bearer {TOKEN[:-1]}", "Bearer '$(id)'", "Bearer 令牌" * 3,
    f"Basic {TOKEN}", "Bearer " + "a" * 10000])
def test_with_a_metrics_token_anything_else_is_refused_in_one_line(guarded, header):
    r = guarded.get("/metrics", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    text = r.get_data(as_text=True)
    assert text.count("\n") == 1 and "web.metrics_token" in text and TOKEN not in text


def test_with_the_metrics_token_prometheus_reads(guarded):
    r = guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    names = {f.name for f in text_string_to_metric_families(r.get_data(as_text=True))}
    assert {"island_ssh_islands", "island_ssh_ssh_command_seconds", "island_ssh_store_up"} <= names


def test_a_short_metrics_token_stops_the_start(island_env):
    with pytest.raises(ConfigError, match="web.metrics_token"):
        create_app(island_env.settings.replace(web={"metrics_token": "short"}), service=island_env.service)


# -- two gunicorn workers, one directory: any worker's /metrics adds both up --------------------------
def test_two_gunicorn_workers_write_and_any_scrape_adds_them_up(island_env, tmp_path):
    import dataclasses
    import os
    import shutil
    import signal
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    import yaml
    from prometheus_client.multiprocess import MultiProcessCollector

    from island_ssh.testing import free_port

    venv_bin = Path(sys.executable).parent
    if shutil.which("gunicorn", path=str(venv_bin)) is None:
        pytest.skip("gunicorn is not installed (pip install gunicorn)")
    prom = tmp_path / "prom"
    prom.mkdir()
    config = tmp_path / "island.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in dataclasses.asdict(island_env.settings).items()
                                      if isinstance(v, dict)}, allow_unicode=True))
    port = free_port()
    env = {**os.environ, "ISLAND_SSH_CONFIG": str(config), "PROMETHEUS_MULTIPROC_DIR": str(prom),
           "ISLAND_SSH_WEB_SECRET_KEY": "shared-by-all-workers-0123456789abcdef"}
    log = (tmp_path / "gunicorn.log").open("wb")
    proc = subprocess.Popen([str(venv_bin / "gunicorn"), "-w", "2", "-k", "gthread", "--threads", "4",
                             "--graceful-timeout", "5", "-b", f"127.0.0.1:{port}", "island_ssh_web.wsgi:app"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def refused_registration(_=None) -> int:
        r = requests.post(f"{url}/api/islands/1/register", json={"node_ip": "127.0.0.1", "ports": "1", "pod_name": "x"},
                          headers={"Authorization": "Bearer wrong", "Connection": "close"}, timeout=10)
        return r.status_code

    def per_worker() -> list[float]:
        """The refused count each worker's own file holds (one file per process)."""
        out = []
        for path in prom.glob("counter_*.db"):
            for family in MultiProcessCollector.merge([str(path)], accumulate=True):
                out += [s.value for s in family.samples
                        if s.name == "island_ssh_registrations_total" and s.labels == {"result": "refused"}]
        return out

    def up() -> bool:
        try:
            return requests.get(f"{url}/metrics", timeout=2).status_code == 200
        except requests.RequestException:
            return proc.poll() is not None

    sent = 0
    try:
        wait_until(up, 90, "gunicorn to serve")
        assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
        with ThreadPoolExecutor(8) as pool:
            def both_served() -> bool:
                nonlocal sent
                codes = list(pool.map(refused_registration, range(16)))
                assert set(codes) == {403}, codes
                sent += len(codes)
                return len([v for v in per_worker() if v > 0]) >= 2 or sent >= 320
            wait_until(both_served, 120, "both workers to serve a registration call")
        assert len([v for v in per_worker() if v > 0]) >= 2, per_worker()
        assert sum(per_worker()) == sent
        for _ in range(6):  # whichever worker answers, it reads every worker's files
            samples = {}
            r = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10)
            for family in text_string_to_metric_families(r.text):
                for s in family.samples:
                    samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
            assert value(samples, "island_ssh_registrations_total", result="refused") == sent
            assert value(samples, "island_ssh_store_up") == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: gunicorn and its workers
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()
