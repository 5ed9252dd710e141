"""The blueprint mounted in another Flask app (the table-import UI) under a prefix, with that app's
own current_user hook."""

from __future__ import annotations

import warnings

import pytest
from flask import Flask, g, request

from island_ssh.core.errors import ConfigError
from island_ssh.core.identity import User
from island_ssh.core.tokens import hash_token
from island_ssh_web import create_blueprint
from web_support import allocate, service_without_cluster, web_settings

# the ``host`` app below keeps a hook of old (a plain name): it is the deprecated path, kept working
pytestmark = pytest.mark.filterwarnings("ignore:current_user returned a plain name:DeprecationWarning")


@pytest.fixture(scope="module")
def host(store, db_settings):
    settings = web_settings(db_settings=db_settings, users={}, admins=["管理员"])
    service = service_without_cluster(settings, store)
    app = Flask("table_import")
    app.secret_key = "host-secret"

    @app.before_request
    def _who():  # the host's own login, reduced to a header for the test
        g.user = request.headers.get("X-Host-User") or None

    @app.get("/")
    def _home():
        return "table import"

    app.register_blueprint(create_blueprint(service, current_user=lambda: g.user), url_prefix="/tools/islands")
    row = allocate(store, settings, "刘电波")
    yield app, row
    store.release(row.island_id, row.generation, "TestDone")
    assert service.kubectl.calls == [], "the blueprint's refusals reached the cluster"


def test_pages_and_api_live_under_the_prefix(host):
    app, row = host
    client = app.test_client()
    page = client.get("/tools/islands/", headers={"X-Host-User": "刘电波"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-api="/tools/islands/api/islands"' in html
    assert "/tools/islands/static/island_ssh/island_table.js" in html
    assert client.get("/tools/islands/static/island_ssh/island.css").status_code == 200
    data = client.get("/tools/islands/api/islands", headers={"X-Host-User": "刘电波"}).get_json()
    assert [i["owner"] for i in data["islands"]] == ["刘电波"] and data["islands"][0]["can_change"] is True
    spec = client.get("/tools/islands/api/openapi.json").get_json()
    assert spec["servers"] == [{"url": "/tools/islands"}]
    assert client.get("/").get_data(as_text=True) == "table import"  # the host's pages are untouched


def test_no_host_user_means_401_and_no_login_form_of_ours(host):
    app, _ = host
    client = app.test_client()
    assert client.get("/tools/islands/api/islands").status_code == 401
    assert client.get("/tools/islands/").status_code == 401
    assert client.get("/tools/islands/login").status_code == 404


def test_changes_through_the_hook_need_csrf(host):
    app, row = host
    client = app.test_client()
    html = client.get("/tools/islands/", headers={"X-Host-User": "刘电波"}).get_data(as_text=True)
    csrf = html.split('data-csrf="', 1)[1].split('"', 1)[0]
    url = f"/tools/islands/api/islands/{row.island_id}/clock"
    assert client.post(url, json={"clock": "+1h"}, headers={"X-Host-User": "刘电波"}).status_code == 403
    ok = client.post(url, json={"clock": "+1h"}, headers={"X-Host-User": "刘电波", "X-CSRF-Token": csrf})
    assert ok.status_code == 400 and "once its server runs" in ok.get_json()["message"]
    other = client.post(url, json={"clock": "+1h"}, headers={"X-Host-User": "bob", "X-CSRF-Token": csrf})
    assert other.status_code == 403 and other.get_json()["error"] == "PermissionDenied"


def test_a_host_without_a_secret_key_is_told_what_to_set(store, db_settings):
    settings = web_settings(db_settings=db_settings)
    app = Flask("no_secret")
    with pytest.raises(ConfigError, match="secret_key"):
        app.register_blueprint(create_blueprint(service_without_cluster(settings, store), current_user=lambda: "x"))


def test_a_plain_name_from_the_hook_still_works_as_id_and_name_with_a_deprecation_warning(host):
    app, row = host
    client = app.test_client()
    with pytest.warns(DeprecationWarning, match=r"current_user returned a plain name.*User\(id, name\)"):
        me = client.get("/tools/islands/api/me", headers={"X-Host-User": "刘电波"}).get_json()
    assert (me["user"], me["user_id"], me["admin"]) == ("刘电波", "刘电波", False)
    with pytest.warns(DeprecationWarning):
        island = client.get(f"/tools/islands/api/islands/{row.island_id}", headers={"X-Host-User": "刘电波"})
    assert island.get_json()["can_change"] is True  # rows of old hold the name as owner_id


@pytest.mark.parametrize("returned", [User("u-42", "刘电波"), ("u-42", "刘电波"), ("u-42", "刘电波", "ignored")],
                         ids=["User", "pair", "object"])
def test_a_hook_returning_a_user_id_and_name(store, db_settings, returned):
    if isinstance(returned, tuple) and len(returned) == 3:
        returned = type("HostUser", (), {"id": returned[0], "name": returned[1]})()
    settings = web_settings(db_settings=db_settings, users={}, admins=["u-admin"])
    app = Flask("table_import_ids")
    app.secret_key = "host-secret"
    app.register_blueprint(create_blueprint(service_without_cluster(settings, store), current_user=lambda: returned),
                           url_prefix="/t")
    mine = store.allocate("刘电波", "dev", lambda i: f"altraserver-t-dev-{i}", {}, hash_token("t" * 32),
                          settings.islands, owner_id="u-42")
    namesake = store.allocate("刘电波", "dev", lambda i: f"altraserver-t-dev-{i}", {}, hash_token("t" * 32),
                              settings.islands, owner_id="u-43")
    try:
        client = app.test_client()
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # no warning for the new forms
            me = client.get("/t/api/me").get_json()
            islands = client.get("/t/api/islands").get_json()["islands"]
        assert (me["user"], me["user_id"], me["admin"]) == ("刘电波", "u-42", False)
        can = {i["id"]: i["can_change"] for i in islands}
        assert can[mine.island_id] is True and can[namesake.island_id] is False
    finally:
        for row in (mine, namesake):
            store.release(row.island_id, row.generation, "TestDone")


def test_a_hook_returning_something_unusable_is_a_500_naming_the_hook(store, db_settings):
    settings = web_settings(db_settings=db_settings, users={})
    app = Flask("table_import_bad")
    app.secret_key = "host-secret"
    app.register_blueprint(create_blueprint(service_without_cluster(settings, store),
                                            current_user=lambda: User("bad\nid", "x")), url_prefix="/t")
    r = app.test_client().get("/t/api/me")
    assert r.status_code == 500 and "current_user" in r.get_json()["message"]
