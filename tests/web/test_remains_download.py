"""Crash forensics through the real web app (issue 15): waitress serving create_app on the whole
product (sandbox, real kubectl over real sshd). A crashed island's remains download as a chunked
tar.gz for its owner (bearer token) and an admin, 403 for another user, 410 once the pod is gone;
in a real headless Chromium the owner's open island page shows "Download remains" as the server
crashes (no reload) and a click saves the bundle (another user's page has no link)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import tarfile
import tempfile
from pathlib import Path

import pytest
import requests

from fixtures.island import running_island_env
from island_ssh.core.names import SERVER_CONTAINER
from island_ssh.service.islands import LaunchRequest
from island_ssh.testing.browser import chromium, chromium_available, log_in, serving
from island_ssh_web import create_app
from web_support import ADMIN, BOB, LIU, bearer, wait_for, web_settings

pytestmark = [pytest.mark.slow, pytest.mark.alone]

OWNER = "刘电波"  # LIU's user id and name (web_support.TOKENS)
CORE_BYTES = 20_000_000
WRITE = ("mkdir -p logs && printf 'boom at frame 7\\n' > logs/server-crash.log && "
         f"head -c {CORE_BYTES} /dev/urandom > core.7")


@pytest.fixture(scope="module")
def crashed(sandbox_info, db_settings):
    with running_island_env(sandbox_info, db_settings, watch_timeout=30, id_min=980, id_max=989) as env:
        row = env.service.launch(LaunchRequest(owner=OWNER, owner_id=OWNER, branch="dev"))
        row = env.wait_state(row.island_id, "ready", timeout=90)
        assert env.kubectl.exec(row.pod_name, SERVER_CONTAINER, ["sh", "-c", WRITE], timeout=60).exit_code == 0
        env.row = row
        yield env


def crash(env):
    """The island's server exits with status 3 (once); the island is `failed` afterwards."""
    if env.row.state != "failed":
        pod = env.kubectl.pod(env.row.pod_name)
        with socket.create_connection((pod["status"]["hostIP"], env.row.ports[0]), timeout=5) as conn:
            conn.sendall(b"crash 3\n")
            conn.makefile("rb").readline()
        env.row = env.wait_state(env.row.island_id, "failed", timeout=60)
    return env.row


@pytest.fixture(scope="module")
def server(crashed):
    with serving(create_app(web_settings(crashed.settings), service=crashed.service), threads=4) as url:
        yield url


def members_of(data: bytes) -> dict[str, int]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {m.name: m.size for m in archive.getmembers()}


def test_the_page_shows_the_owner_the_download_in_a_real_browser(server, crashed):
    pytest.importorskip("selenium.webdriver")
    if not chromium_available():
        pytest.skip("Debian's chromium and chromium-driver are needed")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    downloads = tempfile.mkdtemp(prefix="island-dl-")
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, downloads, True)
        driver = stack.enter_context(chromium(downloads=downloads, window="1280,900"))
        until = lambda what, check, timeout=60: WebDriverWait(driver, timeout, 0.1).until(  # noqa: E731
            lambda d: check(d), message=what)
        row = crashed.row
        log_in(driver, server, LIU, timeout=60)
        driver.get(f"{server}/islands/{row.island_id}")
        # while the server runs, the owner has no link; it appears when the server ends, without a reload
        until("the live page", lambda d: d.find_element(By.ID, "island").get_attribute("data-state") == "ready")
        assert not driver.find_element(By.ID, "remains-link").is_displayed()
        driver.execute_script("window.__sameDocument = true;")
        row = crash(crashed)
        link = until("the remains link", lambda d: (e := d.find_elements(By.ID, "remains-link")) and
                     e[0].is_displayed() and e[0])
        assert link.text == "Download remains"
        assert driver.execute_script("return window.__sameDocument === true")  # no reload
        assert link.get_attribute("href").endswith(f"/api/islands/{row.island_id}/remains")
        ARTIFACTS = Path(os.environ.get("ISLAND_SSH_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" /
                                        "artifacts")) / "web"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "remains.png"))
        link.click()
        name = Path(downloads) / f"remains-{row.island_id}-g{row.generation}.tar.gz"
        wait_for(lambda: name.exists() and not list(Path(downloads).glob("*.crdownload")), 120,
                 "the browser's download")
        root = f"remains-{row.island_id}-g{row.generation}"
        assert members_of(name.read_bytes())[f"{root}/files/logs/server-crash.log"] == len(b"boom at frame 7\n")

        # another user sees the island page but no link
        driver.delete_all_cookies()
        log_in(driver, server, BOB, timeout=60)
        driver.get(f"{server}/islands/{row.island_id}")
        until("the island page", lambda d: d.find_elements(By.ID, "island"))
        assert not driver.find_elements(By.ID, "remains-link")


def test_the_owner_downloads_a_streamed_bundle(server, crashed):
    row = crash(crashed)
    url = f"{server}/api/islands/{row.island_id}/remains"
    with requests.get(url, headers=bearer(LIU), stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text[:300]
        assert response.headers["Content-Type"] == "application/gzip"
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="remains-{row.island_id}-g{row.generation}.tar.gz"')
        # streamed: no length known in advance, the body comes in chunks
        assert "Content-Length" not in response.headers
        assert response.headers.get("Transfer-Encoding") == "chunked"
        pieces = list(response.iter_content(1 << 16))
    data = b"".join(pieces)
    members = members_of(data)
    root = f"remains-{row.island_id}-g{row.generation}"
    assert members[f"{root}/files/core.7"] == CORE_BYTES
    assert members[f"{root}/files/logs/server-crash.log"] == len(b"boom at frame 7\n")
    assert {f"{root}/server.log", f"{root}/events.json", f"{root}/pod.json", f"{root}/manifest.json"} <= set(members)


def test_another_user_gets_403_and_an_admin_may_read_it(server, crashed):
    crash(crashed)
    url = f"{server}/api/islands/{crashed.row.island_id}/remains"
    refused = requests.get(url, headers=bearer(BOB), timeout=30)
    assert refused.status_code == 403 and refused.json()["error"] == "PermissionDenied"
    # an admin who leaves after the first bytes: the container's tar is stopped with the response
    with requests.get(url, headers=bearer(ADMIN), stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert next(response.iter_content(1024))
    wait_for(lambda: not [s for s in crashed.runtime.shell._streams
                          if "island-remains" in s.command and not s.finished.is_set()], 20,
             "the abandoned download's remote tar stopped")


def test_after_deletion_the_remains_are_gone(server, crashed):
    crash(crashed)
    crashed.service.delete(crashed.row.island_id, user=None, wait=True)
    gone = requests.get(f"{server}/api/islands/{crashed.row.island_id}/remains", headers=bearer(LIU), timeout=30)
    assert gone.status_code == 410
    assert gone.json() == {"error": "PodGone", "island_id": crashed.row.island_id,
                           "message": f"island {crashed.row.island_id}: the island's pod is gone; its remains went with it"}
