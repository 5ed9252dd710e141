"""The product's kubectl verbs with each tested kubectl minor (core.kubectl_versions.TESTED_MINORS),
run by the master's login user over the real sshd, against the sandbox.

./island.sh setup unpacks them as .venv/bin/kubectl-1.NN (island_sandbox.kubectl_install); the
master's login shell finds them on its PATH, so ``kube.kubectl: kubectl-1.NN`` picks one, as a
studio whose master keeps several kubectl binaries would. Sandbox fixes these needed: /openapi/v2
(kubectl < 1.27 fetches it before every apply) and discovery answered as ``application/json``
without a charset (kubectl 1.27 compares the Content-Type as a string). kubectl before 1.30 execs
over SPDY, which the sandbox does not serve: exec must then fail with an error that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from fixtures.island import IslandEnv, make_settings

from island_sandbox.product import running_product
from island_ssh.core.errors import KubectlError
from island_ssh.core.kubectl_versions import TESTED_MINORS, WEBSOCKET_EXEC_SINCE
from island_ssh.core.settings import KubeSettings
from island_ssh.core.watch_events import parse_watch_line
from island_ssh.kube.kubectl import Kubectl
from island_ssh.service.islands import LaunchRequest
from island_ssh.ssh import RemoteShell
from island_ssh.testing import free_port
from island_ssh.testing.waiting import wait_for
from sandbox.helpers import pod

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def kubectl_name(minor: int) -> str:
    name = f"kubectl-1.{minor}"
    if shutil.which(name, path=str(BIN)) is None:
        pytest.fail(f"{BIN / name} is missing: run ./island.sh setup (python -m island_sandbox.kubectl_install --all)")
    return name


@pytest.fixture(scope="module")
def master_shell(sandbox):
    shell = RemoteShell(sandbox.sshd.target(inactivity_timeout=20.0))
    try:
        yield shell
    finally:
        shell.close()


@pytest.mark.parametrize("minor", TESTED_MINORS)
def test_product_verbs_with_each_kubectl_minor(master_shell, minor):
    kubectl = Kubectl(master_shell, KubeSettings(kubectl=kubectl_name(minor)))
    client = kubectl.client()
    assert client.version.pair == (1, minor) and client.supported
    name = f"kv{minor}-{uuid.uuid4().hex[:6]}"
    manifest = pod(name, labels={"app.kubernetes.io/managed-by": "island-ssh", "kv": name},
                   branch="dev", memory="32Mi")
    manifest["spec"]["containers"][0]["command"] = ["/bin/sh", "-c", "echo hello-from-$0 && tail -f /dev/null",
                                                    name]
    watch = kubectl.watch_pods(f"kv={name}")
    try:
        assert kubectl.apply([manifest]) == [f"pod/{name}"]
        assert kubectl.apply([manifest]) == [f"pod/{name}"]  # unchanged, as on a real cluster

        def running():
            line = watch.get_line(10)
            event = parse_watch_line(line) if line else None
            return event and event.object["status"].get("phase") == "Running" and event

        assert wait_for(running, 30, f"pod {name} Running in kubectl 1.{minor}'s watch").type in ("ADDED", "MODIFIED")
        logs = wait_for(lambda: kubectl.logs(name, "server", limit_bytes=11) or None, 10, "the log's first line")
        assert logs == "hello-from-"
        if (1, minor) >= WEBSOCKET_EXEC_SINCE:
            assert kubectl.exec(name, "server", ["cat"], stdin="stdin reaches the container").stdout == \
                "stdin reaches the container"
        else:
            with pytest.raises(KubectlError) as refused:
                kubectl.exec(name, "server", ["true"])
            assert f"kubectl v1.{minor}" in refused.value.message and "SPDY" in refused.value.message
            assert "use kubectl 1.30 or newer" in refused.value.message
        assert kubectl.delete_pod(name, grace_period=0, force=True, wait=True) is True
        gone = wait_for(lambda: (line := watch.get_line(10)) and parse_watch_line(line).type == "DELETED"
                        and line, 30, "the DELETED event")
        assert json.loads(gone)["object"]["metadata"]["name"] == name
        assert kubectl.pod(name) is None
    finally:
        watch.close()
        with contextlib.suppress(KubectlError):
            kubectl.delete_pod(name, grace_period=0, force=True)


def test_discovery_and_openapi_v2_answer_as_a_real_api_server(sandbox):
    base = f"http://127.0.0.1:{sandbox.info.api_port}"
    user = yaml.safe_load(Path(sandbox.info.kubeconfig).read_text())["users"][0]["user"]
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    for path in ("/api", "/apis"):
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=5) as resp:
            assert resp.headers["Content-Type"] == "application/json", path
    request = urllib.request.Request(base + "/openapi/v2", headers={
        **headers, "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        assert resp.read().startswith(b"\x0a\x032.0")  # protobuf field 1 (swagger) = "2.0"


@contextlib.contextmanager
def product_with(sandbox, db_settings, kube: dict):
    web_port = free_port()
    settings = make_settings(db_settings, sandbox.info, web_port).replace(kube=kube)
    with running_product(settings, web_port, watch_timeout=30) as runtime:
        env = IslandEnv(settings, sandbox.info, runtime, web_port)
        try:
            yield env
        finally:
            env.cleanup()


def test_a_launch_through_the_tracker_with_the_oldest_supported_kubectl(sandbox, db_settings):
    with product_with(sandbox, db_settings, {"kubectl": kubectl_name(min(TESTED_MINORS))}) as env:
        assert env.kubectl.client().version.pair == (1, min(TESTED_MINORS))
        row = env.service.launch(LaunchRequest(owner="oldkubectl", branch="dev"))
        ready = env.wait_state(row.island_id, "ready", timeout=60)
        assert ready.node.startswith("node-dev")
        env.service.delete(row.island_id)
        env.wait_state(row.island_id, "deleted", timeout=60)


def test_the_installer_unpacks_a_minor_once_and_keeps_it(tmp_path):
    from island_sandbox.kubectl_install import INSTALLED_MINOR, install_all
    (path,) = install_all(tmp_path, minors=(INSTALLED_MINOR,))
    assert path == tmp_path / f"kubectl-1.{INSTALLED_MINOR}" and path.stat().st_mode & 0o111
    first = path.stat().st_mtime_ns
    assert install_all(tmp_path, minors=(INSTALLED_MINOR,)) == [path] and path.stat().st_mtime_ns == first
    assert not list(tmp_path.glob("*.tmp"))
