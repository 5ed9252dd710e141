"""`island-ssh notify test|list` as operators run it (a subprocess, a config file), and doctor's
notifications check, against a real HTTP receiver on 127.0.0.1 and real MariaDB."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cli.helpers import cli
from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.core.settings import NotifySettings, WebhookSettings
from island_ssh.service.check import OK, WARN
from island_ssh.service.doctor_notify import check_notifications
from island_ssh.service.notify import Notifier
from service.recovery_helpers import write_config
from service.webhook_receiver import running_receiver


@pytest.fixture(scope="module")
def receiver():
    with running_receiver() as rx:
        yield rx


def settings_with(db_settings, *hooks):
    return load_settings(DEFAULT_CONFIG, environ={}).replace(
        database=dataclasses.asdict(db_settings), notify=NotifySettings(webhooks=list(hooks)))


def test_notify_test_calls_every_endpoint_and_says_what_each_answered(store, db_settings, receiver, tmp_path):
    settings = settings_with(db_settings, WebhookSettings(name="good", url=receiver.base + "/ok?key=SECRET",
                                                          preset="dingtalk"),
                             WebhookSettings(name="moved", url=receiver.base + "/redirect"))
    config = write_config(settings, tmp_path / "c.yaml")
    result = cli(config, "notify", "test", "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    results = {r["webhook"]: r for r in data["results"]}
    assert data["ok"] is False and results["good"]["ok"] and results["good"]["status"] == 200
    assert "SECRET" not in result.stdout and results["good"]["url"].endswith("/ok?...")
    assert results["moved"]["status"] == 302 and f"redirecting to {receiver.base}/ok" in results["moved"]["error"]
    assert receiver.bodies("/ok")[-1] == {"msgtype": "text", "text": {
        "content": "island-ssh test notification: this endpoint is configured"}}
    text = cli(config, "notify", "test")
    lines = text.stdout.splitlines()
    assert lines[0].startswith("ok    good") and "answered 200" in lines[0]
    assert lines[1].startswith("FAIL  moved") and "not followed" in lines[1]
    listed = json.loads(cli(config, "notify", "list", "--failed", "--json").stdout)
    assert {r["webhook"] for r in listed["recent"]} == {"moved"} and len(listed["recent"]) == 2


def test_notify_test_without_webhooks_says_so(db_settings, tmp_path):
    config = write_config(settings_with(db_settings), tmp_path / "c.yaml")
    result = cli(config, "notify", "test")
    assert result.returncode == 0 and result.stdout.strip() == "no webhooks configured (notify.webhooks in the config)"


def test_a_config_with_a_bad_webhook_url_is_refused_in_one_line(db_settings, tmp_path):
    config = write_config(settings_with(db_settings), tmp_path / "c.yaml",
                          notify={"webhooks": [{"name": "x", "url": "file:///etc/passwd"}]})
    result = cli(config, "notify", "test")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "only http:// or https://" in result.stderr


def test_doctor_names_each_failing_endpoint_and_its_last_error(store, db_settings, receiver):
    hooks = [WebhookSettings(name="fine", url=receiver.base + "/ok"),
             WebhookSettings(name="broken", url=receiver.base + "/bad-request")]
    settings = settings_with(db_settings, *hooks)
    Notifier(settings.notify, store).send_test()
    check = check_notifications(settings)
    assert check.status == WARN
    assert "broken (http://127.0.0.1:" in check.detail and "answered 400 Bad Request: bad payload" in check.detail
    assert "fine (" not in check.detail and check.detail.endswith("-- try: island-ssh notify test")
    assert check_notifications(settings_with(db_settings)).status == OK
    ok_only = check_notifications(settings_with(db_settings, hooks[0]))
    assert ok_only.status == OK and "fine (" in ok_only.detail
