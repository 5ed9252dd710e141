"""A real headless Chromium (Debian's chromium + chromium-driver, driven by selenium) against the app
served by waitress on the whole product: log in, launch, watch it become ready without a reload,
copy its address, set its clock, delete it. Screenshots go to the artifacts folder
($ISLAND_SSH_ARTIFACTS, default build/artifacts/web); with ISLAND_SSH_UPDATE_SCREENSHOTS=1 the
current ones are also copied to docs/screenshots/ for the README."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from fixtures.island import ask_time
from island_ssh.testing.browser import chromium, skip_module_without_chromium, serving
from island_ssh_web import create_app
from web_support import LIU, wait_for, web_settings

pytestmark = [pytest.mark.slow, pytest.mark.alone]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ISLAND_SSH_ARTIFACTS", REPO / "build" / "artifacts")) / "web"
DOCS_SHOTS = REPO / "docs" / "screenshots"

skip_module_without_chromium()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server(island_env):
    with serving(create_app(web_settings(island_env.settings), service=island_env.service)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("ISLAND_SSH_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / path.name)
    return path


def until(driver, condition, timeout: float, what: str):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def state_of(driver) -> str:
    return driver.find_element(By.ID, "island").get_attribute("data-state") or ""


def test_launch_watch_copy_clock_delete_in_a_real_browser(server, browser, island_env):
    d = browser
    d.get(f"{server}/")
    until(d, lambda d: "/login" in d.current_url, 10, "the login page")
    d.find_element(By.ID, "login-token").send_keys(LIU)
    d.find_element(By.ID, "login-submit").click()
    until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#live-status[data-mode=live]"), 10,
          "the table's live stream")
    assert "刘电波" in d.find_element(By.CLASS_NAME, "user").text

    d.find_element(By.ID, "nav-launch").click()
    until(d, lambda d: d.find_elements(By.ID, "launch-form"), 10, "the launch form")
    d.find_element(By.ID, "launch-start-time").send_keys("2021-09-18 23:30:07")
    shot(d, "launch")
    d.find_element(By.ID, "launch-submit").click()
    until(d, lambda d: d.find_elements(By.ID, "island"), 15, "the island page")
    island_id = int(d.find_element(By.ID, "island").get_attribute("data-island-id"))
    d.execute_script("window.__sameDocument = true;")  # gone if the page reloads

    # the progress view walks through the states on the server's events alone
    seen = set()

    def reached_ready(d):
        seen.add(state_of(d))
        return state_of(d) in ("ready", "failed", "timeout", "unschedulable")

    until(d, lambda d: state_of(d) in ("pending", "creating", "starting", "ready"), 30, "progress to show")
    shot(d, "progress")
    until(d, reached_ready, 90, "the island to become ready")
    assert state_of(d) == "ready", d.find_element(By.ID, "d-explain").text
    assert d.execute_script("return window.__sameDocument === true;"), "the page reloaded"
    assert d.execute_script("return document.body.dataset.live") == "live"
    done = [li.get_attribute("data-state") for li in d.find_elements(By.CSS_SELECTOR, "#progress li.done")]
    assert done == ["allocated", "applying", "pending", "creating", "starting", "ready"]
    until(d, lambda d: "✓" in d.find_element(By.ID, "d-registration").text, 15, "the registration to show")

    # copy the address
    row = island_env.store.get(island_id)
    address = f"{row.host_ip}:{row.ports[0]}"
    assert d.find_element(By.ID, "d-address").text == address
    d.find_element(By.ID, "d-copy").click()
    until(d, lambda d: d.execute_script("return document.body.dataset.lastCopied") == address, 5,
          "the address to be copied")
    pasted = paste_into_a_field(d)
    assert pasted == address

    # set the clock: +2d on top of the start time, seen by the game server itself
    before = dt.datetime.fromisoformat(ask_time(row.host_ip, row.ports[2])["now"])
    assert before < dt.datetime(2021, 9, 20)
    d.find_element(By.ID, "clock-shift").send_keys("+2d")
    d.find_element(By.ID, "clock-apply").click()
    until(d, lambda d: "+2d" in d.find_element(By.ID, "d-clock-setting").text, 10, "the clock setting to show")
    wait_for(lambda: dt.datetime.fromisoformat(ask_time(row.host_ip, row.ports[2])["now"])
             > before + dt.timedelta(days=1, hours=23), 5, "the island's server to be 2 days ahead")

    def shown(d):
        return dt.datetime.strptime(d.find_element(By.ID, "d-clock").text.replace(" UTC", ""), "%Y-%m-%d %H:%M:%S")
    # the page shows the clock once its clock view (with the island's own reading) has come back
    until(d, lambda d: shown(d) > before + dt.timedelta(days=1, hours=23), 15, "the page's clock 2 days ahead")
    assert abs((shown(d) - (before + dt.timedelta(days=2))).total_seconds()) < 60
    d.find_element(By.ID, "logs-refresh").click()
    d.execute_script("window.scrollTo(0, 0);")
    shot(d, "island")

    # the table shows it, live, with the address one click away
    d.get(f"{server}/")
    until(d, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-id='{island_id}'][data-state=ready]"), 10,
          "the island's row")
    row_el = d.find_element(By.CSS_SELECTOR, f"tr[data-id='{island_id}']")
    assert "刘电波" in row_el.text and address in row_el.text
    until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#live-status[data-mode=live]"), 10, "live updates")
    shot(d, "islands")
    d.get(f"{server}/?lang=zh")
    until(d, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-id='{island_id}'][data-state=ready]"), 10,
          "the Chinese table")
    assert "就绪" in d.find_element(By.CSS_SELECTOR, f"tr[data-id='{island_id}']").text
    assert "启动岛" in d.find_element(By.ID, "nav-launch").text
    shot(d, "islands-zh")
    d.get(f"{server}/?lang=en")

    # delete from the island page, confirming in the dialog; the table follows without a reload
    d.get(f"{server}/islands/{island_id}")
    until(d, lambda d: state_of(d) == "ready", 10, "the island page")
    d.find_element(By.ID, "delete-button").click()
    until(d, lambda d: d.find_element(By.ID, "confirm-dialog").get_attribute("open") is not None, 5, "the dialog")
    shot(d, "delete-confirm")
    d.find_element(By.ID, "confirm-ok").click()
    until(d, lambda d: state_of(d) == "deleted", 60, "the island to be deleted")
    assert d.find_element(By.ID, "delete-button").get_attribute("disabled") is not None
    assert island_env.store.get(island_id).state == "deleted"


def paste_into_a_field(d) -> str:
    """What the clipboard holds, read back by pasting it as a person would (Ctrl+V)."""
    from selenium.webdriver.common.keys import Keys
    field = d.execute_script(
        "var f = document.createElement('input'); f.id = 'paste-probe'; document.body.appendChild(f); return f;")
    field.click()
    field.send_keys(Keys.CONTROL, "v")
    value = field.get_attribute("value")
    d.execute_script("document.getElementById('paste-probe').remove();")
    return value


def test_a_preset_click_moves_the_islands_own_clock_and_shows_the_proof(server, browser, island_env):
    """Issue 13: one click on a preset; the island's own server reads 04:59:5x, the page shows the
    proof line and the history entry with who, all without a reload."""
    from island_ssh.service.islands import LaunchRequest
    d = browser
    row = island_env.service.launch(LaunchRequest(owner="刘电波", owner_id="刘电波", branch="dev"))
    row = island_env.wait_state(row.island_id, ("ready", "failed", "timeout"), timeout=90)
    assert row.state == "ready", row
    d.get(f"{server}/islands/{row.island_id}")
    if "/login" in d.current_url:
        d.find_element(By.ID, "login-token").send_keys(LIU)
        d.find_element(By.ID, "login-submit").click()
        until(d, lambda d: d.find_elements(By.ID, "island"), 10, "the island page")
    until(d, lambda d: state_of(d) == "ready", 15, "the island page")
    preset = d.find_element(By.CSS_SELECTOR, "button[data-preset='daily-reset']")
    until(d, lambda d: preset.is_enabled(), 15, "the preset button to be enabled (the clock panel loaded)")
    d.execute_script("window.__sameDocument = true;")
    preset.click()
    until(d, lambda d: d.find_element(By.ID, "clock-proof").text.startswith("reads "), 15, "the proof line")
    proof = d.find_element(By.ID, "clock-proof").text
    assert " 04:59:5" in proof or " 05:00:0" in proof, proof
    # the island's own reading, not our stored value (its server re-reads within the cache duration + 1 s)
    wait_for(lambda: (lambda now: (now.hour, now.minute) in ((4, 59), (5, 0)))(
        dt.datetime.fromisoformat(ask_time(row.host_ip, row.ports[2])["now"])), 5, "the island to read 04:59:5x")
    until(d, lambda d: "preset daily-reset" in d.find_element(By.ID, "clock-history").text, 10, "the history entry")
    assert "刘电波" in d.find_element(By.ID, "clock-history").text
    assert "preset daily-reset" in d.find_element(By.ID, "d-clock-setting").text
    assert d.execute_script("return window.__sameDocument === true;"), "the page reloaded"
    d.find_element(By.ID, "clock-freeze").click()
    until(d, lambda d: not d.find_element(By.ID, "clock-badge").get_attribute("hidden")
          and d.find_element(By.ID, "clock-badge").text == "frozen", 15, "the frozen badge")
    d.execute_script("document.getElementById('d-clock').scrollIntoView();")
    shot(d, "island-clock")
