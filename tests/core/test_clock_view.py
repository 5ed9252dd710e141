"""core.clock_view: the one shape the three faces give a clock, and the one way a request body
becomes the service's clock text (so the API and the page's forms accept the same things)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from island_ssh.core.clock_view import (badge, badge_of_setting, change_text, clock_json, history_json,
                                        presets_json, speed_text, timeline_json)
from island_ssh.core.errors import InvalidInput


@pytest.mark.parametrize("data,text", [
    ({"clock": "2021-09-18 04:59:50"}, "2021-09-18 04:59:50"), ({"clock": "+1h"}, "+1h"),
    ({"preset": "daily-reset"}, "preset daily-reset"), ({"action": "freeze"}, "freeze"),
    ({"action": "resume"}, "resume"), ({"action": "reset"}, "reset"), ({"speed": 10}, "speed x10"),
    ({"speed": 0.5}, "speed x0.5"), ({"speed": "x10"}, "speed x10"), ({"speed": " 2 "}, "speed x2")])
def test_each_request_shape_is_one_clock_text(data, text):
    assert change_text(data) == text


@pytest.mark.parametrize("data", [
    {}, {"clock": "+1h", "preset": "daily-reset"}, {"clock": 1}, {"clock": None}, {"preset": ["x"]},
    {"action": "freeze; reboot"}, {"action": "FREEZE"}, {"speed": True}, {"speed": None}, {"speed": "fast"},
    {"speed": ""}, {"speed": "x" * 40}, {"speed": math.nan}, {"speed": math.inf}, {"clock": "x" * 257},
    {"other": 1}])
def test_malformed_requests_are_refused_in_one_line(data):
    with pytest.raises(InvalidInput) as caught:
        change_text(data)
    assert "\n" not in caught.value.message and len(caught.value.message) < 400


def test_speeds_keep_their_value_and_leave_the_range_to_the_service():
    assert speed_text(1e9) == "x1e+09"  # refused by the service's parser (at most 1000), not silently cut
    assert speed_text(-1) == "x-1" and speed_text(0) == "x0"


@pytest.mark.parametrize("setting,shown", [(None, ""), ("", ""), ("+1h", ""), ("freeze", "frozen"),
                                           ("speed x10", "x10"), ("speed 2", "x2"), ("speed x1", ""),
                                           ("speed xnan", ""), ("speed x", ""), ("preset daily-reset", "")])
def test_the_tables_compact_column(setting, shown):
    assert badge_of_setting(setting) == shown


def test_a_badge_says_frozen_before_speed():
    assert badge(True, 10) == "frozen" and badge(False, 10) == "x10" and badge(False, 1.0) == ""


def test_a_view_without_a_state_falls_back_to_the_row():
    class Row:
        island_id, clock_setting, clock_offset_seconds = 7, "+2d", 172800.0
    data = clock_json({"timelines": []}, 1_700_000_000.0, Row())
    assert data["island_id"] == 7 and data["setting"] == "+2d" and data["offset_seconds"] == 172800.0
    assert data["rate"] == 1.0 and data["frozen"] is False and data["badge"] == "" and data["proof"] is None


def test_a_stated_view_reads_its_state_at_now():
    state = {"island_epoch": 1000.0, "real_epoch": 500.0, "rate": 10.0, "frozen": False}
    data = clock_json({"state": state, "setting": "speed x10"}, 510.0)
    assert data["island_now"] == 1100.0 and data["badge"] == "x10" and data["speed"] == 10.0


def test_times_become_iso_text_and_presets_pairs():
    at = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
    assert history_json(3, [{"at": at, "text": "+1h"}])["history"][0]["at"] == "2026-12-03T12:00:00Z"
    assert timeline_json({"timeline_id": 4, "created_at": at}) == {"timeline_id": 4, "created_at": "2026-12-03T12:00:00Z",
                                                                 "id": 4}
    assert presets_json([("daily-reset", "next 05:00 - 10s")]) == {"presets": [{"name": "daily-reset",
                                                                                "spec": "next 05:00 - 10s"}]}
    assert presets_json({"a": "b"}) == {"presets": [{"name": "a", "spec": "b"}]}
