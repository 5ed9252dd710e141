"""Code version per island on the sandbox: the real entry script reads the VERSION file on the
sandbox's shared code volume (the PV's hostPath) and registers it; the branch's current version is
read through a running island's server container (kubectl exec over the one SSH connection, one
remote command); a changed file flags the island as outdated, a new island gets the new version.
Two launches in all."""

from __future__ import annotations

import json
import urllib.request

import pytest

from fixtures.island import IslandEnv, make_settings
from island_sandbox.product import running_product
from island_ssh.core.code_version import UNREADABLE
from island_ssh.service.islands import LaunchRequest
from island_ssh.testing import free_port

pytestmark = pytest.mark.slow

ISLANDS = {"id_min": 740, "id_max": 759, "code_version_check_interval": 3600}
"""Ids no other module hands out; a long interval: the tests force the reads they need."""
TOKEN = "codev-test-token-0123456789abcdef0123"
WEB = {"users": {TOKEN: "tester"}, "admins": ["tester"], "secret_key": "codev-test-secret-key-0123456789abcdef"}


@pytest.fixture(scope="module")
def env(sandbox, db_settings):
    version_file = sandbox.info.code_dir / "VERSION"
    version_file.write_text("abc123\n")
    web_port = free_port()
    settings = make_settings(db_settings, sandbox.info, web_port, web=WEB, **ISLANDS)
    try:
        with running_product(settings, web_port, watch_timeout=30) as runtime:
            env = IslandEnv(settings, sandbox.info, runtime, web_port)
            env.version_file = version_file
            try:
                yield env
            finally:
                env.cleanup()
    finally:
        version_file.unlink(missing_ok=True)


def api(env, path):
    request = urllib.request.Request(f"http://127.0.0.1:{env.web_port}{path}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def refresh(env):
    before = dict(env.kubectl.commands)
    report = env.service.code_versions.report(refresh="force")
    spent = {k: v - before.get(k, 0) for k, v in env.kubectl.commands.items() if v != before.get(k, 0)}
    return report, spent


def island_of(report, island_id):
    (item,) = [i for i in report["islands"] if i["id"] == island_id]
    return item["code_version"]


def test_recorded_at_start_flagged_when_the_branch_moves_on_and_a_new_island_gets_the_new_code(env):
    a = env.service.launch(LaunchRequest(owner="刘电波", branch="dev"))
    a = env.wait_state(a.island_id, "ready", timeout=90)
    assert (a.code_version, a.code_version_at is not None) == ("abc123", True)
    assert "code abc123" in [e for e in env.store.events(a.island_id) if e.reason == "Registered"][0].message

    # the branch's version, read through island a's server container: ONE remote command
    report, spent = refresh(env)
    assert spent == {"script": 1}
    dev = {b["branch"]: b for b in report["branches"]}["dev"]
    assert dev["version"] == "abc123" and [n["node"] for n in dev["nodes"]] == [a.node]
    assert dev["nodes"][0]["pod"] == a.pod_name and dev["nodes"][0]["state"] == "ok"
    assert island_of(report, a.island_id)["outdated"] is False and report["outdated"] == 0

    # CI deploys new code on the shared volume: the running island is flagged, with both versions
    env.version_file.write_text("def456\n")
    report, spent = refresh(env)
    assert spent == {"script": 1}
    v = island_of(report, a.island_id)
    assert v["outdated"] is True and v["version"] == "abc123" and v["current"] == "def456"
    assert v["note"] == "older code: abc123, branch dev is at def456"
    # the REST API says the same (GET /api/islands/<id> and GET /api/branches)
    assert api(env, f"/api/islands/{a.island_id}")["code_version"]["outdated"] is True
    branches = api(env, "/api/branches")
    assert {b["branch"]: b["version"] for b in branches["branches"]}["dev"] == "def456"
    assert branches["outdated"] == 1

    # a new island mounts the new code and is current; a stays flagged
    b = env.service.launch(LaunchRequest(owner="tester2", branch="dev"))
    b = env.wait_state(b.island_id, "ready", timeout=90)
    assert b.code_version == "def456"
    report, _ = refresh(env)
    assert island_of(report, b.island_id)["outdated"] is False
    assert island_of(report, a.island_id)["outdated"] is True


def test_the_table_and_the_island_page_show_the_outdated_badge_in_chromium(env):
    """After the test above: island a runs abc123, the branch is at def456, island b is current."""
    import os
    import shutil
    import tempfile
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")):
        pytest.skip("Debian's chromium and chromium-driver are needed")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    rows = {r.code_version: r for r in env.store.list(states=["ready"])}
    a, b = rows["abc123"], rows["def456"]
    profile = tempfile.mkdtemp(prefix="island-codev-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                "--disable-background-networking", f"--user-data-dir={profile}", "--window-size=1440,900"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    d.set_page_load_timeout(30)
    until = lambda cond, what: WebDriverWait(d, 20, poll_frequency=0.1).until(lambda d: cond(d), message=what)  # noqa: E731
    try:
        base = f"http://127.0.0.1:{env.web_port}"
        d.get(f"{base}/")
        until(lambda d: "/login" in d.current_url, "the login page")
        d.find_element(By.ID, "login-token").send_keys(TOKEN)
        d.find_element(By.ID, "login-submit").click()
        until(lambda d: d.find_elements(By.CSS_SELECTOR, "#live-status[data-mode=live]"), "the islands table")
        d.execute_script("document.querySelector('input[name=scope][value=all]').click()")  # every owner's islands

        def cell(island_id):
            found = d.find_elements(By.CSS_SELECTOR, f"td.codever[data-id='{island_id}']")
            return found[0] if found and found[0].text not in ("", "–") else None

        until(lambda d: cell(a.island_id) and cell(b.island_id), "the Code column filled")
        badge = cell(a.island_id).find_element(By.CSS_SELECTOR, ".badge.outdated")
        assert "abc123" in cell(a.island_id).text and badge.text == "outdated"
        assert badge.get_attribute("title") == "older code: abc123, branch dev is at def456"
        assert "def456" in cell(b.island_id).text and not cell(b.island_id).find_elements(By.CSS_SELECTOR, ".outdated")

        d.get(f"{base}/islands/{a.island_id}")
        until(lambda d: "outdated" in d.find_element(By.ID, "d-code-version").text, "the island page's code line")
        line = d.find_element(By.ID, "d-code-version").text
        assert "abc123" in line and "def456" in line
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("content, shown", [
    (b"$(touch /tmp/codev-pwned)\n", "unreadable version"),
    ("刘电波\n".encode(), "unreadable version"),
    (b"x" * 3_000_000, "unreadable version"),
    (None, "no version"),
])
def test_hostile_or_missing_branch_files_are_read_safely(env, content, shown):
    if content is None:
        env.version_file.unlink(missing_ok=True)
    else:
        env.version_file.write_bytes(content)
    report, spent = refresh(env)
    assert spent == {"script": 1}
    dev = {b["branch"]: b for b in report["branches"]}["dev"]
    assert dev["nodes"] and all(n["shown"] == shown for n in dev["nodes"]), dev
    assert dev["version"] is None and all(not n["error"] for n in dev["nodes"])
    stored = {r.version for r in env.store.code_versions.readings() if r.branch == "dev"}
    assert stored == ({UNREADABLE} if content is not None else {""})
    # running islands are now flagged against it, never with the file's text
    flagged = [i for i in report["islands"] if i["branch"] == "dev"]
    assert flagged and all(i["code_version"]["outdated"] for i in flagged)
    assert all("pwned" not in i["code_version"]["note"] for i in flagged)
