"""A real headless Chromium and the web app served by waitress: how tests and benchmarks start both.

Debian's chromium and chromium-driver (``./island.sh setup`` installs them), driven by selenium
(extra ``dev``). The driver's path is given explicitly, so selenium never looks for (downloads)
one. Each browser has a profile directory of its own, removed when it quits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from typing import Any, Iterator

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FEED_EXTENSION = "island_ssh.service.feed"
STREAM_THREADS = 32
"""Threads beyond ``threads`` for the pages' live streams, as `island-ssh serve` adds web.max_streams:
each open page's stream holds a thread, and with none to spare a page's own requests wait
(Chromium's renderer timed out, a registration never showed)."""


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def log_in(driver, server: str, token: str, timeout: float = 15.0) -> None:
    """Sign in through the login page with ``token`` and wait until the browser has left it."""
    from selenium.webdriver.common.by import By

    from island_ssh.testing.waiting import wait_for

    driver.get(f"{server}/login")
    driver.find_element(By.ID, "login-token").send_keys(token)
    driver.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/login" not in driver.current_url, timeout, "the login")


def skip_module_without_chromium() -> None:
    """At a browser test module's top: skip the whole module, saying what to install, when selenium
    or Debian's chromium and chromium-driver are missing."""
    import pytest

    pytest.importorskip("selenium.webdriver")
    if not chromium_available():
        pytest.skip("Debian's chromium and chromium-driver are needed (apt-get install chromium chromium-driver)",
                    allow_module_level=True)


@contextlib.contextmanager
def chromium(*, downloads: str | None = None, page_load_timeout: float = 30, script_timeout: float = 10,
             window: str = "1440,900") -> Iterator[Any]:
    """A headless Chromium (a selenium WebDriver) in English; ``downloads``: where it saves files."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="island-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={window}",
                "--lang=en-US"):
        options.add_argument(arg)
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": downloads,
                                                  "download.prompt_for_download": False})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except BaseException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.set_page_load_timeout(page_load_timeout)
    driver.set_script_timeout(script_timeout)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def serving(app, threads: int = 8) -> Iterator[str]:
    """The WSGI ``app`` on 127.0.0.1 at a port the kernel picks, in a waitress thread; yields its
    base URL. Afterwards the server is closed, its thread joined and the app's live feed closed."""
    from waitress.server import create_server

    httpd = create_server(app, host="127.0.0.1", port=0, threads=threads + STREAM_THREADS)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.effective_port}"
    finally:
        httpd.close()
        thread.join(5)
        feed = getattr(app, "extensions", {}).get(FEED_EXTENSION)
        if feed is not None:
            feed.close()
