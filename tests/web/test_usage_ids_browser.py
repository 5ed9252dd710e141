"""The islands page's cell polls ask for the rows it shows, in a real headless Chromium (Debian's
chromium + chromedriver), the app served by waitress over a real Store with 120 ready islands (no
cluster: a FakeKubectl whose shell answers the metrics poll with every pod's memory). GET /api/usage
and GET /api/branches carry ?ids= of the page's 50 rows, and turning the page asks for the new rows
at once rather than at the next 15 s poll."""

from __future__ import annotations

import json

import pytest

from island_ssh.testing.browser import chromium, log_in, serving, skip_module_without_chromium
from island_ssh.testing.fakes import result
from island_ssh_web import create_app
from web_support import LIU, ready_islands, service_without_cluster, wait_for, web_settings

pytestmark = [pytest.mark.slow, pytest.mark.alone]

ISLANDS = 120
PER_PAGE = 50

skip_module_without_chromium()

from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def settings(db_settings):
    return web_settings(db_settings=db_settings, streams_per_user=64).replace(islands={"id_max": 999})


@pytest.fixture(scope="module")
def many(store, settings):
    return ready_islands(store, settings, ISLANDS, "cells")


@pytest.fixture(scope="module")
def server(settings, store, many):
    service = service_without_cluster(settings, store)
    doc = {"kind": "PodMetricsList", "items": [
        {"metadata": {"name": r.pod_name}, "timestamp": "2026-12-03T12:00:00Z", "window": "15s",
         "containers": [{"name": "altraserver", "usage": {"cpu": "5m", "memory": f"{r.island_id}Mi"}}]}
        for r in many]}
    service.kubectl.shell.on("metrics.k8s.io", result(json.dumps(doc)))
    service.kubectl.shell.on("ISLAND_CODEV", result(""))
    with serving(create_app(settings, service=service)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as driver:
        log_in(driver, server, LIU)
        yield driver


def asked(d, path: str) -> list[list[int] | None]:
    """The ids each of the page's requests to ``path`` carried, oldest first (None: no ids)."""
    urls = d.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    out = []
    for url in urls:
        base, _, query = url.partition("?")
        if base.endswith(path):
            ids = [p[4:] for p in query.split("&") if p.startswith("ids=")]
            out.append([int(i) for i in ids[0].replace("%2C", ",").split(",")] if ids else None)
    return out


def painted(d, ids: list[int]) -> bool:
    texts = d.execute_script("return Array.from(document.querySelectorAll('#islands tbody td.usage'))"
                             ".map(function (td) { return [Number(td.dataset.id), td.textContent]; })")
    return [i for i, _ in texts] == ids and all(text.startswith(f"{i}Mi (") for i, text in texts)


def test_the_cells_ask_for_the_rows_shown_and_follow_the_page(server, browser, many):
    d = browser
    ids = sorted(r.island_id for r in many)
    d.get(f"{server}/?per_page={PER_PAGE}")
    wait_for(lambda: painted(d, ids[:PER_PAGE]), 20, "the first page's memory cells")
    wait_for(lambda: asked(d, "/api/branches"), 10, "the code-version poll")
    assert asked(d, "/api/usage") == [ids[:PER_PAGE]] and asked(d, "/api/branches") == [ids[:PER_PAGE]]
    assert d.find_elements(By.CSS_SELECTOR, "td.codever span.version")  # the answer was painted

    d.find_element(By.ID, "page-next").click()
    # within a few seconds, not at the next poll (15 s for usage, 30 s for versions)
    wait_for(lambda: painted(d, ids[PER_PAGE:2 * PER_PAGE]), 8, "the second page's memory cells")
    assert asked(d, "/api/usage")[-1] == ids[PER_PAGE:2 * PER_PAGE]
    wait_for(lambda: asked(d, "/api/branches")[-1] == ids[PER_PAGE:2 * PER_PAGE], 8, "the versions of page 2")
    assert all(a is not None and len(a) == PER_PAGE for a in asked(d, "/api/usage"))
