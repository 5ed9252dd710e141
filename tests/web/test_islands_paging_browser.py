"""The islands page's pager and live rows in a real headless Chromium (Debian's chromium +
chromedriver), the app served by waitress over a real Store with 250 islands (no cluster): pages
of ?per_page= rows in id order, next/previous, the address keeping the page and the filters, a
filter going back to page 1, and live transitions applied to single rows (an island leaving the
filtered set makes the next one move up)."""

from __future__ import annotations


import pytest

from island_ssh.testing.browser import chromium, log_in, serving, skip_module_without_chromium
from island_ssh_web import create_app
from web_support import LIU, ready_islands, service_without_cluster, wait_for, web_settings

pytestmark = [pytest.mark.slow, pytest.mark.alone]

ISLANDS = 250

skip_module_without_chromium()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


@pytest.fixture(scope="module")
def settings(db_settings):
    # every page load opens a stream, held until the server notices the tab left: more than 4 here
    return web_settings(db_settings=db_settings, streams_per_user=64).replace(islands={"id_max": 999})


@pytest.fixture(scope="module")
def many(store, settings):
    return ready_islands(store, settings, ISLANDS, "pager", branches=("dev", "weekly"))


@pytest.fixture(scope="module")
def server(settings, store, many):
    with serving(create_app(settings, service=service_without_cluster(settings, store))) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as driver:
        log_in(driver, server, LIU)
        yield driver


def shown_ids(d) -> list[int]:
    return d.execute_script("return Array.from(document.querySelectorAll('#islands tbody tr'))"
                            ".map(function (tr) { return Number(tr.dataset.id); })")


def info(d) -> str:
    return d.find_element(By.ID, "page-info").text


def settle(d, ids: list[int], text: str, what: str) -> None:
    wait_for(lambda: shown_ids(d) == ids and info(d) == text, 15,
             f"{what}: rows {ids[:3]}... and '{text}' (shown {shown_ids(d)[:3]}... '{info(d)}')")


def test_pages_next_previous_and_the_address(server, browser, many, store):
    d = browser
    ids = sorted(r.island_id for r in many)
    d.get(f"{server}/?per_page=50")
    settle(d, ids[:50], f"1–50 of {ISLANDS}", "the first page")
    assert d.find_element(By.ID, "page-prev").get_attribute("disabled") is not None
    d.find_element(By.ID, "page-next").click()
    settle(d, ids[50:100], f"51–100 of {ISLANDS}", "the second page")
    assert "page=2" in d.current_url and "per_page=50" in d.current_url
    d.refresh()  # the address keeps the page
    settle(d, ids[50:100], f"51–100 of {ISLANDS}", "the second page after a reload")
    d.find_element(By.ID, "page-prev").click()
    settle(d, ids[:50], f"1–50 of {ISLANDS}", "back to the first page")
    d.get(f"{server}/?per_page=50&page=5")
    settle(d, ids[200:250], f"201–250 of {ISLANDS}", "the last page")
    assert d.find_element(By.ID, "page-next").get_attribute("disabled") is not None
    d.get(f"{server}/?per_page=50&page=99")  # past the end (islands went away since the link): the last page
    settle(d, ids[200:250], f"201–250 of {ISLANDS}", "the last page for a page past the end")
    assert "page=5" in d.current_url
    Select(d.find_element(By.ID, "filter-branch")).select_by_value("weekly")  # a filter: page 1 again
    weekly = sorted(r.island_id for r in many if r.branch == "weekly")
    settle(d, weekly[:50], f"1–50 of {len(weekly)}", "the first page of weekly")
    assert "page=" not in d.current_url.replace("per_page=", "") and "branch=weekly" in d.current_url


def test_live_transitions_change_single_rows_and_refill_the_page(server, browser, many, store):
    d = browser
    ids = sorted(r.island_id for r in many)
    d.get(f"{server}/?per_page=50")
    settle(d, ids[:50], f"1–50 of {ISLANDS}", "the first page")
    wait_for(lambda: d.execute_script("return document.body.dataset.live") == "live", 15, "the live stream")
    d.execute_script("window.__sameDocument = true; window.__loads = window.islandTable.loads;")
    by_id = {r.island_id: r for r in many}
    on_page, later = by_id[ids[3]], by_id[ids[120]]
    assert store.transition(on_page.island_id, on_page.generation, "failed", "Crashed", "test")
    assert store.transition(later.island_id, later.generation, "lost", "NodeLost", "test")
    state = f"#islands tbody tr[data-id='{on_page.island_id}']"
    # one read in the page: a row found by one call may be replaced (a live update) before the next
    wait_for(lambda: d.execute_script("var r = document.querySelector(arguments[0]); return r && r.dataset.state;",
                                      state) == "failed", 15, "the failed row")
    assert shown_ids(d) == ids[:50] and info(d) == f"1–50 of {ISLANDS}"
    # neither a state change on this page nor one on a later page reads the page again
    assert d.execute_script("return window.islandTable.loads === window.__loads")
    gone = by_id[ids[10]]
    assert store.release(gone.island_id, gone.generation, "TestDeleted")
    rest = [i for i in ids if i != gone.island_id]
    settle(d, rest[:50], f"1–50 of {ISLANDS - 1}", "the page refilled after a delete")
    assert d.execute_script("return window.__sameDocument === true")
