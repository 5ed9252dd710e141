"""Resource use in a real headless Chromium (issue 15): the island page's "Resource use" line and the
table's Memory column show the island server's real memory against its 256Mi limit, turn orange
once the server (the stand-in island server, a real process) allocates past islands.memory_warning
(0.8), and say "killed: out of memory at 256Mi" after the kernel's OOM kill, without a reload.
Same fixtures as test_browser.py (the whole product on the sandbox, waitress, chromium-driver)."""

from __future__ import annotations

import json
import socket

import pytest

from test_browser import browser, server, shot, state_of, until  # noqa: F401  (fixtures)
from web_support import LIU

from selenium.webdriver.common.by import By

pytestmark = [pytest.mark.slow, pytest.mark.alone]
WAIT = 45  # the page reads usage every 15 s; the service keeps a poll islands.usage_cache_seconds (5 s)


def eat(row, mib: int) -> None:
    try:
        with socket.create_connection((row.host_ip, row.ports[0]), timeout=20) as conn:
            conn.sendall(f"eat {mib}\n".encode())
            json.loads(conn.makefile("rb").readline() or b"{}")
    except (OSError, ValueError):
        pass  # killed before it answered: what the OOM step wants


def test_memory_shows_turns_orange_past_the_warning_and_names_the_oom_kill(server, browser, island_env):
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
    cell = lambda d: d.find_element(By.ID, "d-usage")  # noqa: E731
    until(d, lambda d: " / 256Mi (" in cell(d).text, WAIT, "the island's memory against its limit")
    assert "warning" not in cell(d).get_attribute("class") and "cpu " in cell(d).text
    d.execute_script("window.__sameDocument = true;")

    eat(row, 200)  # ~15Mi + 200Mi of 256Mi: past 80%
    until(d, lambda d: "warning" in cell(d).get_attribute("class"), WAIT, "the memory line to turn orange")
    colour = d.execute_script("return getComputedStyle(document.querySelector('#d-usage .mem')).color")
    assert colour == "rgb(194, 65, 12)", colour
    d.execute_script("document.getElementById('d-usage').scrollIntoView();")
    shot(d, "island-usage")

    d.get(f"{server}/")
    usage_td = f"tr[data-id='{row.island_id}'] td.usage"
    until(d, lambda d: d.find_elements(By.CSS_SELECTOR, usage_td + ".warning"), WAIT, "the table's orange Memory cell")
    assert d.find_element(By.CSS_SELECTOR, usage_td).text.endswith("%)")  # "215Mi (84%)": the table is narrow
    assert "/ 256Mi (" in d.find_element(By.CSS_SELECTOR, usage_td + " .mem").get_attribute("title")
    # the table's poll asks for the rows it shows (GET /api/usage?ids=...), not for every island
    urls = d.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    polls = [u.partition("?")[2] for u in urls if "/api/usage" in u]
    assert polls and all(q.startswith("ids=") and str(row.island_id) in q[4:].split(",") for q in polls), polls
    shot(d, "islands-usage")

    d.get(f"{server}/islands/{row.island_id}")
    until(d, lambda d: " / 256Mi (" in cell(d).text, WAIT, "the island page again")
    d.execute_script("window.__sameDocument = true;")
    eat(row, 200)  # past the limit: OOMKilled
    until(d, lambda d: state_of(d) == "failed", 30, "the island to fail")
    until(d, lambda d: "killed: out of memory at 256Mi" in cell(d).text, WAIT, "the OOM kill named with its limit")
    assert d.execute_script("return window.__sameDocument === true;"), "the page reloaded"
    assert island_env.store.get(row.island_id).reason == "OOMKilled"
