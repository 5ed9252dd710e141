"""Where the login form sends the browser (issue 11, hole 3): ``next`` may only name a path of this
app. Each hostile value is logged in with through the real app (the login form, its CSRF token,
a real Store), and the Location is read the way a browser reads it (WHATWG URL parsing: tab and
newline dropped, ``\\`` as ``/``, leading control characters and spaces stripped)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask

from island_ssh_web import create_app, create_blueprint
from web_support import LIU, csrf_from, service_without_cluster, web_settings

ORIGIN = "http://islands.example:8080"

HOSTILE = [
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "//evil", "///evil", "/\\evil", "\\\\evil",
    "/\\/evil", " //evil", "\t//evil", "\x00//evil", "\x1f//evil", "https:evil", "https://evil", "http:/evil",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "%2F%2Fevil", "/%2F/evil", "/%5Cevil",
    "/%09/evil", "/%0a/evil", "%252F%252Fevil", "/%252F/evil", "\u3000//evil", "\u2028//evil",
    "/\u2215/evil", "／／evil", "/\uff0f/evil", "\u200b//evil", "evil.example", "?next=//evil", "#//evil",
    "/" + "a" * 10240, "//evil" + "/" * 10000, "",
]

KEPT = ["/", "/islands/7", "/launch?branch=dev", "/?state=ready&lang=zh", "/islands/7#log", "/?owner=%E5%88%98"]


def browser_target(location: str) -> str:
    """The absolute URL a browser goes to for this Location on a page of ORIGIN."""
    cleaned = "".join(ch for ch in location if ch not in "\t\n\r").replace("\\", "/")
    cleaned = cleaned.strip("".join(chr(c) for c in range(0x21)))
    return urljoin(ORIGIN + "/login", cleaned)


def log_in(client, next_value: str, prefix: str = ""):
    page = client.get(f"{prefix}/login", base_url=ORIGIN).get_data(as_text=True)
    return client.post(f"{prefix}/login", base_url=ORIGIN, query_string={"next": next_value},
                       data={"token": LIU, "csrf_token": csrf_from(page)})


@pytest.fixture(scope="module")
def app(store, db_settings):
    settings = web_settings(db_settings=db_settings)
    return create_app(settings, service=service_without_cluster(settings, store))


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: ascii(v)[:40])
def test_a_hostile_next_lands_on_the_index(app, value):
    r = log_in(app.test_client(), value)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location == "/", (value, location)
    assert urlsplit(browser_target(location)).netloc == "islands.example:8080"


@pytest.mark.parametrize("value", KEPT)
def test_a_path_of_this_app_is_kept(app, value):
    r = log_in(app.test_client(), value)
    assert r.status_code == 302 and r.headers["Location"] == value


def test_the_login_page_itself_sends_a_protected_page_back_after_login(app):
    client = app.test_client()
    first = client.get("/islands/7?lang=zh", base_url=ORIGIN)
    assert first.status_code == 302
    login_url = first.headers["Location"]
    page = client.get(login_url, base_url=ORIGIN).get_data(as_text=True)
    r = client.post(login_url, base_url=ORIGIN, data={"token": LIU, "csrf_token": csrf_from(page)})
    assert r.headers["Location"] == "/islands/7?lang=zh"


def test_mounted_under_a_prefix_only_paths_under_it_are_kept(store, db_settings):
    settings = web_settings(db_settings=db_settings)
    host = Flask("host")
    host.secret_key = "host-secret-key-0123456789abcdef-0123"
    host.register_blueprint(create_blueprint(service_without_cluster(settings, store), web_settings=settings.web),
                            url_prefix="/islands")
    client = host.test_client()
    assert log_in(client, "/islands/launch", "/islands").headers["Location"] == "/islands/launch"
    for value in ("/admin/delete-everything", "/islands/\t/evil", "//evil", "/islandsevil"):
        assert log_in(client, value, "/islands").headers["Location"] == "/islands/", value
