"""The image allow-list through the real app and a real Store on MariaDB (issue 11, hole 1).

On the code before, any well-formed image from any registry was accepted: a launch with
``evil.example/miner:1`` answered 201 and took an id."""

from __future__ import annotations

import json

import pytest

from island_ssh.service.islands import IslandService
from island_ssh.testing.fakes import FakeKubectl
from island_ssh_web import create_app
from web_support import ADMIN, LIU, bearer, login, wait_for, web_settings

DEFAULT_IMAGE = "bo602505401/jdk8-curl-libfaketime:latest"
ADMIN_IMAGE = "registry.studio.local/tools/debug:1"


@pytest.fixture(scope="module")
def settings(db_settings):
    base = web_settings(db_settings=db_settings)
    return base.replace(islands={"images": [DEFAULT_IMAGE, "registry.studio.local/game/"],
                                 "admin_images": ["registry.studio.local/tools/"], "capacity_check": False,
                                 "id_min": 500, "id_max": 520})


@pytest.fixture(scope="module")
def service(settings, store):
    return IslandService(settings, store, FakeKubectl())


@pytest.fixture(scope="module")
def app(settings, service):
    return create_app(settings, service=service)


@pytest.fixture()
def client(app):
    return app.test_client()


def launch(client, token, **fields):
    response = client.post("/api/islands", data=json.dumps(fields), content_type="application/json",
                           headers=bearer(token))
    return response, json.loads(response.get_data(as_text=True))


def ids_in_use(store) -> list[int]:
    return sorted(r.island_id for r in store.active())


@pytest.mark.parametrize("image", ["evil.example/miner:1", "alpine:3.14.1", "docker.io/" + DEFAULT_IMAGE,
                                   "registry.studio.local/gamex/server:1", ADMIN_IMAGE,
                                   "registry.studio.local/game/x\nimage: evil/x", "bo602505401/x$(reboot)",
                                   "x" * 255])
def test_a_foreign_image_answers_400_and_takes_no_id(client, store, service, image):
    before, applied = ids_in_use(store), len(service.kubectl.calls)
    response, data = launch(client, LIU, image=image)
    assert response.status_code == 400, data
    assert data["message"].startswith("image: ") and "allowed: " + DEFAULT_IMAGE in data["message"]
    assert "registry.studio.local/game/" in data["message"]
    assert ids_in_use(store) == before and len(service.kubectl.calls) == applied


def test_the_admins_list_is_for_admins(client, store, service):
    response, data = launch(client, LIU, image=ADMIN_IMAGE)
    assert response.status_code == 400 and "admins may use more" in data["message"]
    response, data = launch(client, ADMIN, image=ADMIN_IMAGE)
    assert response.status_code == 201, data
    island_id = data["id"]
    wait_for(lambda: service.kubectl.verbs.count("apply") >= 1, 10, "the background apply")
    applied = [c for c in service.kubectl.calls if c.verb == "apply"][-1]
    assert ADMIN_IMAGE in json.dumps(applied.args, default=str)
    store.release(island_id, store.get(island_id).generation, "TestDone")


def test_allowed_images_launch(client, store):
    for image in (DEFAULT_IMAGE, "registry.studio.local/game/server:2024.1", None):
        response, data = launch(client, LIU, **({"image": image} if image else {}))
        assert response.status_code == 201, data
        store.release(data["id"], store.get(data["id"]).generation, "TestDone")


def test_the_launch_form_refuses_a_foreign_image_too(client, store):
    csrf = login(client, LIU)
    before = ids_in_use(store)
    response = client.post("/launch", data={"image": "evil.example/miner:1", "csrf_token": csrf})
    assert response.status_code == 400
    assert "evil.example/miner:1" in response.get_data(as_text=True)
    assert ids_in_use(store) == before
