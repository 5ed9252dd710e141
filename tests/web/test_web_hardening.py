"""Identity, the web parts (issue 11, hole 7), through the real app over a real Store: secrets have
a minimum length, failed logins are limited per client address, the session cookie is Secure over
HTTPS, and no answer of ours may be framed by another site."""

from __future__ import annotations

import threading

import pytest
import requests
from waitress.server import create_server

from island_ssh.core.errors import ConfigError
from island_ssh_web import create_app
from island_ssh_web.ratelimit import FailureLimiter, RateLimited
from web_support import ADMIN, BOB, LIU, bearer, csrf_from, login, service_without_cluster, web_settings

SHORT = "short-token-0123456789"  # 22 characters: the old tests' tokens were about this long


def make_app(store, db_settings, **web):
    settings = web_settings(db_settings=db_settings, **web)
    return create_app(settings, service=service_without_cluster(settings, store))


# -- minimum lengths ------------------------------------------------------------------------------------
def test_a_short_api_token_is_refused_at_start_without_showing_it(store, db_settings):
    with pytest.raises(ConfigError) as refused:
        make_app(store, db_settings, users={LIU: "刘电波", SHORT: "bob"})
    message = str(refused.value)
    assert "web.users" in message and "'bob'" in message and "at least 32" in message
    assert "secrets.token_urlsafe(32)" in message and SHORT not in message


def test_a_short_secret_key_is_refused_at_start(store, db_settings):
    with pytest.raises(ConfigError) as refused:
        make_app(store, db_settings, secret_key="hunter2-hunter2")
    message = str(refused.value)
    assert "web.secret_key" in message and "secrets.token_urlsafe(32)" in message and "hunter2" not in message


def test_an_empty_secret_key_still_means_a_random_one(store, db_settings):
    app = make_app(store, db_settings, secret_key="")
    assert len(app.secret_key) >= 32


# -- login rate limit -------------------------------------------------------------------------------------
def attempt(client, token: str, address: str):
    page = client.get("/login", environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    return client.post("/login", data={"token": token, "csrf_token": csrf_from(page)},
                       environ_base={"REMOTE_ADDR": address})


def test_failed_logins_from_one_address_are_limited(store, db_settings):
    app = make_app(store, db_settings, login_failures=5, login_window=60.0)
    client = app.test_client()
    for n in range(5):
        assert attempt(client, f"guess-{n}-" + "x" * 40, "203.0.113.7").status_code == 401
    refused = attempt(client, "guess-6-" + "x" * 40, "203.0.113.7")
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    # the right token is refused as well while the address is over: a guess must not be confirmed
    assert attempt(client, LIU, "203.0.113.7").status_code == 429
    # another address is not affected
    assert attempt(app.test_client(), LIU, "198.51.100.9").status_code == 302


def test_unknown_bearer_tokens_count_too(store, db_settings):
    app = make_app(store, db_settings, login_failures=3)
    client = app.test_client()
    env = {"REMOTE_ADDR": "203.0.113.8"}
    for _ in range(3):
        assert client.get("/api/me", headers=bearer("nope-" + "y" * 40), environ_base=env).status_code == 401
    limited = client.get("/api/me", headers=bearer(BOB), environ_base=env)
    assert limited.status_code == 429 and limited.json["error"] == "RateLimited" and limited.headers["Retry-After"]
    ok = client.get("/api/me", headers=bearer(BOB), environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert ok.status_code == 200 and ok.json["user"] == "bob"


def test_successful_logins_are_not_counted(store, db_settings):
    app = make_app(store, db_settings, login_failures=2)
    for _ in range(6):
        assert attempt(app.test_client(), ADMIN, "203.0.113.10").status_code == 302


def test_the_window_forgets_old_failures():
    now = [1000.0]
    limiter = FailureLimiter(2, 60, clock=lambda: now[0])
    limiter.failed("a"), limiter.failed("a")
    with pytest.raises(RateLimited) as limited:
        limiter.check("a")
    assert limited.value.retry_after == 60
    now[0] += 30
    assert limiter.retry_after("a") == 30 and limiter.retry_after("b") == 0
    now[0] += 30.5
    limiter.check("a")  # both failures are older than the window now


# -- the session cookie --------------------------------------------------------------------------------
def session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("island_ssh_session=")]
    assert cookies, response.headers
    return cookies[-1]


@pytest.mark.parametrize("mode, base_url, secure", [("auto", "http://localhost", False),
                                                     ("auto", "https://localhost", True),
                                                     ("always", "http://localhost", True),
                                                     ("never", "https://localhost", False)])
def test_the_session_cookie_flags(store, db_settings, mode, base_url, secure):
    app = make_app(store, db_settings, secure_cookies=mode)
    client = app.test_client()
    page = client.get("/login", base_url=base_url).get_data(as_text=True)
    r = client.post("/login", base_url=base_url, data={"token": LIU, "csrf_token": csrf_from(page)})
    assert r.status_code == 302
    flags = [part.strip().lower() for part in session_cookie(r).split(";")]
    assert "httponly" in flags and "samesite=lax" in flags
    assert ("secure" in flags) is secure


def test_an_unknown_cookie_mode_is_refused(store, db_settings):
    with pytest.raises(ConfigError, match="web.secure_cookies"):
        make_app(store, db_settings, secure_cookies="sometimes")


# -- framing -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(store, db_settings):
    settings = web_settings(db_settings=db_settings)
    app = create_app(settings, service=service_without_cluster(settings, store), heartbeat=0.5, stream_seconds=5)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", app
    finally:
        server.close()
        thread.join(5)
        app.extensions["island_ssh.service.feed"].close()


@pytest.mark.parametrize("method, path, token", [
    ("GET", "/login", None), ("GET", "/", None), ("GET", "/", LIU), ("GET", "/launch", LIU),
    ("GET", "/api/me", LIU), ("GET", "/api/me", None), ("GET", "/api/islands", LIU), ("GET", "/api/vocabulary", None),
    ("GET", "/api/openapi.json", None), ("GET", "/no/such/page", None), ("GET", "/favicon.ico", None),
    ("GET", "/static/island_ssh/island.css", None), ("DELETE", "/api/vocabulary", None),
    ("POST", "/api/islands/1/register", None), ("GET", "/api/events", LIU),
])
def test_every_answer_forbids_framing(served, method, path, token):
    url, _ = served
    headers = bearer(token) if token else {}
    with requests.request(method, url + path, headers=headers, allow_redirects=False, stream=True,
                          timeout=10) as r:
        assert "frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", ""), (path, r.status_code)
        assert r.headers.get("X-Frame-Options") == "DENY"
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        if r.headers.get("Content-Type", "").startswith("text/html"):
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]


def test_pages_still_load_their_scripts_under_the_policy(served):
    url, app = served
    with requests.Session() as browser:
        page = browser.get(f"{url}/login", timeout=10).text
        r = browser.post(f"{url}/login", data={"token": LIU, "csrf_token": csrf_from(page)}, timeout=10)
        assert r.status_code == 200 and "<script" in r.text and "island_table.js" in r.text
        assert "<script>" not in r.text and " onclick=" not in r.text  # nothing inline the CSP would block
    client = app.test_client()
    assert login(client, BOB)
