"""Webhook notifications (issue 14) against a real HTTP receiver on 127.0.0.1 and real MariaDB.

What could break: a payload that is not JSON for a hostile field, an event kind not sent, a 500
not retried (or retried forever), a slow or huge answer holding the worker, a redirect followed,
emit() waiting for HTTP, two workers sending the same notification twice.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from island_ssh.config import settings_from_dict
from island_ssh.core import notify_payload as payloads
from island_ssh.core.errors import ConfigError
from island_ssh.core.settings import IslandSettings, NotifySettings, WebhookSettings
from island_ssh.service.notify import Notifier
from island_ssh.service.notify_http import post
from island_ssh.store import hash_token
from island_ssh.store.notify import NotifyStore
from island_ssh.testing.waiting import wait_for

from service.webhook_receiver import running_receiver

HOSTILE = {
    "owner": '刘电波 "the boss" \\ $(id) `rm -rf /`',
    "reason": "Error",
    "message": 'line one\nline "two"\t{text} {{island_id}} </script>\u2028\x00 end',
    "branch": "dev: [a, b] # yaml",
    "pod_name": "lone \ud800 surrogate",
}


class Row:
    """An IslandRow's fields as a notification reads them."""

    def __init__(self, **kw):
        base = dict(island_id=12, generation=3, state="ready", reason="", message="", pod_name="altraserver-x-12",
                    owner="刘电波", owner_id="u123", branch="dev", node="node-dev-1", host_ip="127.0.0.11",
                    port_base=30036, ports=(30036, 30037, 30038))
        base.update(kw)
        self.__dict__.update(base)


@pytest.fixture
def receiver():
    with running_receiver() as rx:
        yield rx


def hook(rx, path: str, name: str | None = None, **kw) -> WebhookSettings:
    return WebhookSettings(name=name or path.strip("/"), url=rx.base + path, **kw)


def notify_settings(*hooks, **kw) -> NotifySettings:
    values = dict(webhooks=list(hooks), backoff=0.05, backoff_max=0.2, poll_interval=0.05, attempts=4)
    values.update(kw)
    return NotifySettings(**values)


@pytest.fixture
def notifiers():
    made = []

    def make(settings, store, start=True):
        n = Notifier(settings, store)
        made.append(n)
        return n.start() if start else n
    yield make
    for n in made:
        n.close()


def finished(store, count: int, timeout: float = 15.0):
    """The outbox once ``count`` notifications are delivered or failed (newest first)."""
    outbox = NotifyStore(store)
    return wait_for(lambda: (rows := [r for r in outbox.recent(500) if r.state != "pending"])
                    and len(rows) >= count and rows, timeout, f"{count} notifications finished "
                    f"(now {[(r.webhook, r.state, r.attempts, r.last_error) for r in outbox.recent(500)]})")


# -- templates (pure) -----------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["wecom", "dingtalk", "feishu", "slack", "json"])
def test_every_preset_gives_valid_json_of_its_real_shape_for_hostile_fields(preset):
    fields = payloads.event_fields("failed", Row(**HOSTILE, state="failed"), at="2026-12-03T12:00:00Z")
    payload = payloads.render("", preset, fields)
    body = json.loads(payload.body.decode("utf-8"))
    assert payload.content_type.startswith("application/json")
    text = {"wecom": lambda b: b["text"]["content"], "dingtalk": lambda b: b["text"]["content"],
            "feishu": lambda b: b["content"]["text"], "slack": lambda b: b["text"],
            "json": lambda b: b["text"]}[preset](body)
    assert body.get("msgtype", "text") == "text" and body.get("msg_type", "text") == "text"
    assert text.startswith('island 12 (刘电波 "the boss" \\ $(id) `rm -rf /`, dev: [a, b] # yaml) failed: Error: ')
    # the message arrives as it was: no placeholder inside user data was substituted
    assert 'line one\nline "two"\t{text} {{island_id}} </script>\u2028\x00 end' in text


def test_a_custom_json_template_keeps_numbers_and_never_substitutes_twice():
    template = '{"kind": "{event}", "id": "{island_id}", "who": "{owner}", "label": "#{island_id} {{literal}}", ' \
               '"why": "{message}", "list": ["{reason}", 1, null]}'
    payloads.check_settings(NotifySettings(webhooks=[WebhookSettings(name="a", url="http://127.0.0.1/x",
                                                                     template=template)]))
    fields = payloads.event_fields("failed", Row(**HOSTILE), at="")
    body = json.loads(payloads.render(template, "json", fields).body)
    assert body == {"kind": "failed", "id": 12, "who": HOSTILE["owner"], "label": "#12 {literal}",
                    "why": HOSTILE["message"], "list": ["Error", 1, None]}


def test_a_text_template_is_sent_as_text_and_huge_fields_are_cut():
    fields = payloads.event_fields("failed", Row(message="x" * 100000), at="")
    payload = payloads.render("island {island_id}: {message}", "json", fields)
    assert payload.content_type.startswith("text/plain")
    assert len(payload.body) < payloads.MAX_TEXT + 100 and payload.body.endswith(b"...")


@pytest.mark.parametrize("webhook, words", [
    ({"url": "ftp://127.0.0.1/x"}, "only http:// or https://"),
    ({"url": "file:///etc/passwd"}, "only http:// or https://"),
    ({"url": "javascript:alert(1)"}, "only http:// or https://"),
    ({"url": "http://user:pw@127.0.0.1/x"}, "no user:password@"),
    ({"url": "http://127.0.0.1/a b"}, "no spaces"),
    ({"url": "http://127.0.0.1:99999/"}, "not a valid"),
    ({"template": '{"t": "{token}"}'}, "unknown placeholder {token}"),
    ({"template": "$(id) {__class__}"}, "unknown placeholder {__class__}"),
    ({"events": ["ready", "exploded"]}, "'exploded' is not an event"),
    ({"preset": "teams"}, "one of wecom, dingtalk, feishu, slack, json"),
    ({"headers": {"X-A": "1\r\nX-Injected: 2"}}, "one-line string value"),
    ({"timeout": 0}, "more than 0 and at most 120"),
    ({"name": "a b"}, "letters, digits"),
])
def test_config_load_refuses_bad_webhooks_in_one_line(webhook, words):
    raw = {"notify": {"webhooks": [{"name": "hook", "url": "http://127.0.0.1/x", **webhook}]}}
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(raw, source="test.yaml")
    assert words in caught.value.message and "\n" not in caught.value.message
    assert "pw" not in caught.value.message  # a secret in the URL is not echoed


def test_urls_are_shown_without_their_secrets():
    assert payloads.redact_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET") == \
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?..."
    assert "SECRET" not in payloads.redact_url("https://hooks.slack.com/services/T000/B000/SECRETSECRETSECRETX")


def test_backoff_doubles_and_is_capped():
    assert [payloads.backoff_delay(n, 2.0, 30.0) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


# -- the HTTP call -----------------------------------------------------------------------------------
def test_a_huge_answer_is_read_only_up_to_the_cap(receiver):
    payload = payloads.render("", "json", {"text": "hi"})
    result = post(hook(receiver, "/huge"), payload, max_bytes=4096)
    assert not result.ok and result.status == 500 and result.retry and result.cut
    assert "answered 500" in result.error and "(answer cut at 4096 bytes)" in result.error
    assert len(result.error) < 400


def test_a_redirect_is_not_followed_and_the_failure_names_the_location(receiver):
    result = post(hook(receiver, "/redirect"), payloads.render("", "slack", {"text": "hi"}), 4096)
    assert not result.ok and result.status == 302 and not result.retry
    assert f"redirecting to {receiver.base}/ok" in result.error and "not followed" in result.error
    assert receiver.count("/ok") == 0


def test_a_slow_receiver_is_cut_off_at_the_timeout(receiver):
    result = post(hook(receiver, "/slow", timeout=0.3), payloads.render("", "json", {"text": "hi"}), 4096)
    assert not result.ok and result.retry and result.error == "no answer within 0.3 s (the webhook's timeout)"


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_total_timeout(receiver):
    result = post(hook(receiver, "/trickle", timeout=0.5), payloads.render("", "json", {"text": "hi"}), 4096)
    sent = receiver.trickled
    assert not result.ok and result.retry and result.error == "no answer within 0.5 s (the webhook's timeout)"
    assert 0 < sent < 200  # each byte came within the socket timeout; the deadline counts the whole call


def test_dingtalk_and_feishu_calls_are_signed_with_the_secret(receiver):
    import base64
    import hashlib
    import hmac
    from urllib.parse import parse_qs
    secret = "SEC0123456789abcdef+/="
    ding = WebhookSettings(name="d", url=receiver.base + "/ok?access_token=T", preset="dingtalk", secret=secret)
    assert post(ding, payloads.render("", "dingtalk", {"text": "hi"}), 4096).ok
    query = parse_qs(receiver.requests[-1]["query"])
    stamp, signature = query["timestamp"][0], query["sign"][0]
    assert query["access_token"] == ["T"] and abs(int(stamp) / 1000 - time.time()) < 60
    assert signature == base64.b64encode(hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(),
                                                  hashlib.sha256).digest()).decode()
    feishu = WebhookSettings(name="f", url=receiver.base + "/ok", preset="feishu", secret=secret)
    assert post(feishu, payloads.render("", "feishu", {"text": "hi"}), 4096).ok
    body = receiver.requests[-1]["json"]
    assert body["msg_type"] == "text" and body["content"] == {"text": "hi"}
    assert body["sign"] == base64.b64encode(hmac.new(f"{body['timestamp']}\n{secret}".encode(), b"",
                                                     hashlib.sha256).digest()).decode()
    with pytest.raises(ConfigError, match="only the dingtalk and feishu presets sign"):
        settings_from_dict({"notify": {"webhooks": [{"name": "s", "url": "http://127.0.0.1/", "secret": "x"}]}})


def test_a_refused_port_is_a_retryable_failure_with_words(receiver):
    from island_ssh.testing import free_port
    result = post(WebhookSettings(name="x", url=f"http://127.0.0.1:{free_port()}/"),
                  payloads.render("", "json", {"text": "hi"}), 4096)
    assert not result.ok and result.retry and result.error.startswith("call failed after")


def test_wecom_answering_200_with_an_errcode_is_a_failure(receiver):
    result = post(hook(receiver, "/wecom-refuses", preset="wecom"), payloads.render("", "wecom", {"text": "x"}), 4096)
    assert not result.ok and result.error == "wecom refused it: errcode 93000: invalid webhook url"


# -- delivery through the outbox (MariaDB) ----------------------------------------------------------
def test_every_event_kind_is_delivered_with_the_template(receiver, fresh_store, notifiers):
    template = '{"kind": "{event}", "id": "{island_id}", "who": "{owner}", "actor": "{actor}", "says": "{text}"}'
    n = notifiers(notify_settings(hook(receiver, "/ok", template=template)), fresh_store)
    row = Row()
    for event in payloads.EVENTS:
        n.emit(event, row, actor="王五 (u9)" if event == "deleted-by-other" else None,
               expires_at="2026-12-03 14:00 UTC", idle_since="2026-12-03 11:00 UTC")
    finished(fresh_store, len(payloads.EVENTS))
    bodies = {b["kind"]: b for b in receiver.bodies("/ok")}
    assert sorted(bodies) == sorted(payloads.EVENTS)
    assert all(b["id"] == 12 and b["who"] == "刘电波" for b in bodies.values())
    assert bodies["deleted-by-other"]["says"] == "island 12 (刘电波, dev) was deleted by 王五 (u9)"
    assert bodies["lease-warning"]["says"].startswith("island 12 (刘电波, dev) expires at 2026-12-03 14:00 UTC")
    assert bodies["ready"]["says"] == "island 12 (刘电波, dev) is ready on node-dev-1 127.0.0.11, ports 30036/30037/30038"


def test_webhooks_get_only_their_events(receiver, fresh_store, notifiers):
    n = notifiers(notify_settings(hook(receiver, "/ok", name="all"), hook(receiver, "/ok", name="ready-only",
                                                                          events=["ready"])), fresh_store)
    n.emit("expired", Row())
    n.emit("ready", Row())
    rows = finished(fresh_store, 3)
    assert sorted((r.webhook, r.event) for r in rows) == [("all", "expired"), ("all", "ready"),
                                                          ("ready-only", "ready")]


def allocate(store, owner="刘电波"):
    return store.allocate(owner=owner, branch="dev", pod_name_fn=lambda i: f"altraserver-t-{i}", overrides=None,
                          token_hash=hash_token("t"), settings=IslandSettings(), owner_id="u123")


def test_ready_and_failed_come_from_the_stored_transitions_once(receiver, fresh_store, notifiers):
    before = allocate(fresh_store)
    fresh_store.transition(before.island_id, before.generation, "ready", "Ready", "")  # before: not sent
    n = notifiers(notify_settings(hook(receiver, "/ok", preset="wecom")), fresh_store)
    wait_for(lambda: NotifyStore(fresh_store).cursor("events") is not None, 10, "the worker's cursor")
    good, bad = allocate(fresh_store), allocate(fresh_store, owner='O\'Brien "x"')
    fresh_store.transition(good.island_id, good.generation, "ready", "Ready", "server listening")
    fresh_store.transition(good.island_id, good.generation, "ready", "Ready", "again")  # same state: no 2nd
    fresh_store.transition(bad.island_id, bad.generation, "failed", "Error", HOSTILE["message"])
    rows = finished(fresh_store, 2)
    assert sorted(r.event for r in rows) == ["failed", "ready"]
    texts = {b["text"]["content"].split(" ")[1]: b["text"]["content"] for b in receiver.bodies("/ok")}
    assert len(texts) == 2 and all(set(b) == {"msgtype", "text"} for b in receiver.bodies("/ok"))
    assert texts[str(bad.island_id)] == f"island {bad.island_id} (O'Brien \"x\", dev) failed: Error: " \
                                        f"{HOSTILE['message']}"
    assert texts[str(good.island_id)].startswith(f"island {good.island_id} (刘电波, dev) is ready")
    n.close()  # a new worker (a restart) re-reads from its stored cursor and sends nothing twice
    notifiers(notify_settings(hook(receiver, "/ok", preset="wecom")), fresh_store)
    fresh_store.transition(good.island_id, good.generation, "failed", "Error", "later")
    finished(fresh_store, 3)
    assert receiver.count("/ok") == 3


def test_a_receiver_failing_twice_gets_it_on_the_third_attempt_after_backoff(receiver, fresh_store, notifiers):
    n = notifiers(notify_settings(hook(receiver, "/flaky"), backoff=0.2, backoff_max=0.3), fresh_store)
    n.emit("expired", Row())
    (row,) = finished(fresh_store, 1)
    assert (row.state, row.attempts, row.last_status) == ("delivered", 3, 200)
    assert receiver.count("/flaky") == 3
    times = [r["at"] for r in receiver.requests]
    # retried after backoff (0.2 s), then 2x backoff capped at backoff_max (0.3 s); never at once
    assert [round(b - a, 1) >= want for a, b, want in zip(times, times[1:], (0.2, 0.3))] == [True, True]


def test_a_receiver_that_keeps_failing_is_given_up_after_the_attempts(receiver, fresh_store, notifiers):
    receiver.flaky_left = 100
    n = notifiers(notify_settings(hook(receiver, "/flaky"), attempts=3), fresh_store)
    n.emit("ready", Row())
    (row,) = finished(fresh_store, 1)
    assert (row.state, row.attempts, row.last_status) == ("failed", 3, 500)
    assert row.last_error == "answered 500 Internal Server Error: internal error, try later"
    assert receiver.count("/flaky") == 3


@pytest.mark.parametrize("path, status, words, attempts", [
    ("/slow", None, "no answer within 0.3 s", 2),
    ("/redirect", 302, "redirecting to", 1),
    ("/bad-request", 400, "answered 400 Bad Request: bad payload", 1),
    ("/huge", 500, "(answer cut at 4096 bytes)", 2),
])
def test_hostile_receivers_end_failed_with_a_clear_message(receiver, fresh_store, notifiers, path, status, words,
                                                           attempts):
    n = notifiers(notify_settings(hook(receiver, path, timeout=0.3), attempts=2, max_response_bytes=4096),
                  fresh_store)
    n.emit("failed", Row())
    (row,) = finished(fresh_store, 1)
    assert (row.state, row.attempts, row.last_status) == ("failed", attempts, status)
    assert words in row.last_error
    assert receiver.count("/ok") == 0


def test_emit_returns_before_the_receiver_sees_the_request_and_while_it_hangs(receiver, fresh_store, notifiers):
    n = notifiers(notify_settings(hook(receiver, "/hang", timeout=20)), fresh_store)
    first_returned = threading.Event()
    receiver.before_arrival = first_returned
    n.emit("ready", Row())
    first_returned.set()
    assert receiver.arrived.wait(10)
    assert receiver.seen_set == [True]  # emit had returned when the request arrived
    # the receiver now hangs on the first call; emitting more does not wait for it
    for _ in range(3):
        n.emit("idle", Row())
    assert not receiver.release.is_set() and receiver.count("/hang") >= 1
    receiver.release.set()
    finished(fresh_store, 4)


def test_two_workers_on_one_database_send_each_notification_once(receiver, fresh_store, notifiers):
    settings = notify_settings(hook(receiver, "/ok"))
    a, b = notifiers(settings, fresh_store), notifiers(settings, fresh_store)
    wait_for(lambda: a.acting.is_set() or b.acting.is_set(), 10, "one worker holding the lock")
    for i in range(10):
        (a if i % 2 else b).emit("expired", Row(island_id=i + 1))
    finished(fresh_store, 10)
    assert receiver.count("/ok") == 10
    assert not (a.acting.is_set() and b.acting.is_set())


def test_a_process_that_only_emits_writes_the_outbox_before_it_closes(receiver, fresh_store):
    emitter = Notifier(notify_settings(hook(receiver, "/ok")), fresh_store)  # a CLI: no worker
    emitter.emit("expired", Row(), key="lease:12:3")
    emitter.emit("expired", Row(), key="lease:12:3")  # same key: once
    emitter.close()
    assert [(r.event, r.state) for r in NotifyStore(fresh_store).recent()] == [("expired", "pending")]
    worker = Notifier(notify_settings(hook(receiver, "/ok")), fresh_store).start()
    try:
        finished(fresh_store, 1)
    finally:
        worker.close()
    assert receiver.count("/ok") == 1


def test_without_webhooks_the_notifier_does_nothing(fresh_store):
    n = Notifier(NotifySettings(), fresh_store)
    n.emit("ready", Row())
    n.start()
    assert not n.enabled and n._writer is None and n._worker is None
    assert n.overview() == {"enabled": False, "webhooks": [], "recent": [], "failures": []}
    n.close()


def test_hostile_fields_reach_the_receiver_as_valid_json(receiver, fresh_store, notifiers):
    n = notifiers(notify_settings(hook(receiver, "/ok", template='{"pod": "{pod_name}", "says": "{text}"}')),
                  fresh_store)
    n.emit("failed", Row(**HOSTILE), detail="x" * 100000)
    (row,) = finished(fresh_store, 1)
    assert row.state == "delivered"
    (body,) = receiver.bodies("/ok")
    assert body["pod"] == "lone ? surrogate" and HOSTILE["message"] in body["says"]
    assert len(body["says"]) == payloads.MAX_TEXT and body["says"].endswith("...")


def test_emit_of_an_unknown_event_or_bad_row_never_raises(receiver, fresh_store, notifiers):
    n = notifiers(notify_settings(hook(receiver, "/ok")), fresh_store)
    n.emit("exploded", Row())
    n.emit("ready", object(), actor=object())
    (row,) = finished(fresh_store, 1)
    assert row.event == "ready"


def test_send_test_reports_each_endpoint_and_the_overview_shows_failures(receiver, fresh_store):
    n = Notifier(notify_settings(hook(receiver, "/ok", name="good", preset="slack"),
                                 hook(receiver, "/redirect", name="moved")), fresh_store)
    started = time.monotonic()
    results = {r["webhook"]: r for r in n.send_test()}
    assert time.monotonic() - started < 10
    assert results["good"]["ok"] and results["good"]["status"] == 200
    assert not results["moved"]["ok"] and "redirecting to" in results["moved"]["error"]
    assert receiver.bodies("/ok") == [{"text": "island-ssh test notification: this endpoint is configured"}]
    view = n.overview()
    hooks = {h["name"]: h for h in view["webhooks"]}
    assert hooks["good"]["delivered"] == 1 and hooks["moved"]["failed"] == 1
    assert [f["webhook"] for f in view["failures"]] == ["moved"]
    n.close()


def test_urls_split_as_http_clients_read_them():
    parts = payloads.split_url("https://[::1]:8443/a/b?key=1#frag")
    assert (parts.scheme, parts.host, parts.port, parts.path, parts.query) == ("https", "::1", 8443, "/a/b", "key=1")
    assert payloads.split_url("http://127.0.0.1:0/") is None and payloads.split_url("http:/x") is None
    assert payloads.split_url("http://evil@127.0.0.1/").userinfo == "evil"
