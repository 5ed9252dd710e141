"""The faces' vocabulary comes from island_ssh.core.names: GET /api/vocabulary, the JSON embedded in
every page, the logs' container choice and the spec all say what core.names says, and the pages'
scripts keep no list of states of their own."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

import island_ssh_web
from island_ssh.core import names
from island_ssh_web import create_app
from web_support import LIU, allocate, login, service_without_cluster, web_settings

STATIC = Path(island_ssh_web.__file__).parent / "static"
EXPECTED = {
    "states": list(names.ISLAND_STATES),
    "groups": {name: list(states) for name, states in names.STATE_GROUPS.items()},
    "containers": list(names.CONTAINERS),
}


@pytest.fixture(scope="module")
def settings(db_settings):
    return web_settings(db_settings=db_settings)


@pytest.fixture(scope="module")
def app(settings, store):
    return create_app(settings, service=service_without_cluster(settings, store))


@pytest.fixture(scope="module")
def liu_island(store, settings):
    row = allocate(store, settings, "刘电波", "dev")
    yield row
    store.release(row.island_id, row.generation, "TestDone")


def embedded_vocabulary(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="island-vocabulary">(.*?)</script>', page, re.S)
    assert match, "the page embeds no vocabulary"
    return json.loads(match.group(1))


def test_the_endpoint_answers_core_names_without_a_user(app):
    r = app.test_client().get("/api/vocabulary")
    assert r.status_code == 200 and r.is_json
    assert r.get_json() == EXPECTED
    assert set(EXPECTED["groups"]) == {"progress", "failed", "gone", "changeable", "final", "waiting"}


def test_every_page_embeds_what_the_endpoint_answers(app, liu_island):
    client = app.test_client()
    assert embedded_vocabulary(client.get("/login").get_data(as_text=True)) == EXPECTED
    login(client, LIU)
    for path in ["/", "/launch", f"/islands/{liu_island.island_id}", "/islands/997"]:
        assert embedded_vocabulary(client.get(path).get_data(as_text=True)) == EXPECTED, path


def test_the_detail_page_offers_the_containers_and_the_progress_of_core_names(app, liu_island):
    client = app.test_client()
    login(client, LIU)
    page = client.get(f"/islands/{liu_island.island_id}").get_data(as_text=True)
    select = re.search(r'<select id="logs-container">(.*?)</select>', page, re.S).group(1)
    assert [html.unescape(v) for v in re.findall(r'<option value="([^"]*)"', select)] == list(names.CONTAINERS)
    progress = re.search(r'<ol id="progress".*?</ol>', page, re.S).group(0)
    assert re.findall(r'data-state="([^"]*)"', progress) == list(names.PROGRESS_STATES)


def test_the_spec_describes_the_endpoint_with_the_same_names(app):
    spec = app.test_client().get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/vocabulary"]["get"]
    assert operation["security"] == []
    schema = spec["components"]["schemas"]["Vocabulary"]
    assert schema["properties"]["states"]["items"]["enum"] == list(names.ISLAND_STATES)
    assert set(schema["properties"]["groups"]["required"]) == set(names.STATE_GROUPS)
    assert schema["properties"]["containers"]["items"]["enum"] == list(names.CONTAINERS)


@pytest.mark.parametrize("script", sorted(p.name for p in STATIC.glob("*.js")))
def test_no_script_keeps_its_own_list_of_states(script):
    # a state that is only ever meaningful as a member of a list (a group), never compared alone
    text = (STATIC / script).read_text(encoding="utf-8")
    for state in ("allocated", "applying", "unschedulable", "timeout", "lost"):
        assert f'"{state}"' not in text and f"'{state}'" not in text, (script, state)
