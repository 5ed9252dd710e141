"""GET /api/notifications (admins) and the "deleted by someone else" notification of a delete,
over a real Store and a real HTTP receiver on 127.0.0.1 (tests/service/webhook_receiver.py)."""

from __future__ import annotations

import pytest

from island_ssh.core.settings import NotifySettings, WebhookSettings
from island_ssh.store.notify import NotifyStore
from island_ssh_web import create_app
from web_support import ADMIN, BOB, LIU, allocate, bearer, service_without_cluster, wait_for, web_settings
from service.webhook_receiver import running_receiver


@pytest.fixture(scope="module")
def receiver():
    with running_receiver() as rx:
        yield rx


@pytest.fixture(scope="module")
def settings(db_settings, receiver):
    hooks = [WebhookSettings(name="team", url=receiver.base + "/ok?key=SECRET", preset="wecom"),
             WebhookSettings(name="moved", url=receiver.base + "/redirect", events=["deleted-by-other"])]
    return web_settings(db_settings=db_settings).replace(
        notify=NotifySettings(webhooks=hooks, backoff=0.05, poll_interval=0.05, attempts=2))


@pytest.fixture(scope="module")
def service(settings, store):
    svc = service_without_cluster(settings, store)
    svc.notify.start()
    yield svc
    svc.close()


@pytest.fixture()
def client(settings, service):
    return create_app(settings, service=service).test_client()


def settled(store, count):
    outbox = NotifyStore(store)
    return wait_for(lambda: (rows := [r for r in outbox.recent(100) if r.state != "pending"]) and len(rows) >= count
                    and rows, 15, f"{count} notifications settled")


def test_a_delete_by_someone_else_notifies_the_owner_and_by_the_owner_does_not(store, settings, service, receiver):
    mine, theirs = allocate(store, settings, "刘电波"), allocate(store, settings, "刘电波")
    service.delete(mine.island_id, user="刘电波")
    service.delete(theirs.island_id, user="admin")
    rows = settled(store, 2)
    assert sorted((r.webhook, r.event, r.island_id, r.state) for r in rows) == [
        ("moved", "deleted-by-other", theirs.island_id, "failed"),
        ("team", "deleted-by-other", theirs.island_id, "delivered")]
    (body,) = receiver.bodies("/ok")
    assert body == {"msgtype": "text", "text": {"content": f"island {theirs.island_id} (刘电波, dev) was deleted by "
                                                           f"admin"}}


def test_admins_read_the_notification_log_without_webhook_secrets(client, store):
    settled(store, 2)
    response = client.get("/api/notifications", headers=bearer(ADMIN))
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert data["enabled"] is True and "SECRET" not in response.get_data(as_text=True)
    hooks = {h["name"]: h for h in data["webhooks"]}
    assert hooks["team"]["url"].endswith("/ok?...") and hooks["moved"]["failed"] >= 1
    (failure,) = [f for f in data["failures"] if f["webhook"] == "moved"]
    assert failure["last_status"] == 302 and "redirecting to" in failure["last_error"]
    only = client.get("/api/notifications?state=failed&webhook=moved&limit=5", headers=bearer(ADMIN)).get_json()
    assert {r["webhook"] for r in only["recent"]} == {"moved"} and {r["state"] for r in only["recent"]} == {"failed"}


@pytest.mark.parametrize("token, query, status, words", [
    (None, "", 401, "log in first"),
    (LIU, "", 403, "only admins"),
    (BOB, "?state=failed", 403, "only admins"),
    (ADMIN, "?state=$(id)", 400, "state: one of pending, delivered, failed"),
    (ADMIN, "?webhook=刘电波", 400, "webhook: one of the configured webhooks (team, moved)"),
    (ADMIN, "?limit=0", 400, "limit: expected a whole number from 1 to 500"),
    (ADMIN, "?limit=1e9", 400, "limit: expected a whole number"),
])
def test_the_log_refuses_others_and_bad_queries_in_words(client, token, query, status, words):
    response = client.get("/api/notifications" + query, headers=bearer(token) if token else {})
    assert response.status_code == status
    assert words in response.get_json()["message"]


def test_the_spec_describes_the_endpoint(client):
    spec = client.get("/api/openapi.json").get_json()
    op = spec["paths"]["/api/notifications"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NotificationLog"}
    assert "Notification" in spec["components"]["schemas"]
