"""core/quota.py: limits by default, per-user override and group; whole-batch decisions; the
one-line message with the numbers; memory units; config refusals. Pure: data in, data out."""

from __future__ import annotations

import pytest

from island_ssh.config import settings_from_dict
from island_ssh.core import quota as q
from island_ssh.core.errors import ConfigError
from island_ssh.core.settings import QuotaLimit, QuotaSettings

GI, MI = 2 ** 30, 2 ** 20


def quotas(**raw) -> QuotaSettings:
    return settings_from_dict({"quotas": raw}).quotas


def view(settings, used_islands=0, used_memory=0, user="u123", name="刘电波", groups=(), admin=False):
    return q.QuotaView(user, name, q.limits_for(settings, user, groups, admin), q.Usage(used_islands, used_memory))


def test_the_issue_message_exactly():
    v = view(quotas(max_islands=3, max_memory="6Gi"), 3, int(4.5 * GI))
    assert v.line() == "刘电波 has 3 of 3 islands (4.5Gi of 6Gi)"
    assert v.line(you=True) == "you use 3 of 3 islands (4.5Gi of 6Gi)"
    problem = q.decide(v, [int(1.5 * GI)])
    assert problem.startswith("刘电波 has 3 of 3 islands (4.5Gi of 6Gi); ")
    assert "1 more island would make 4 (limit 3)" in problem and "\n" not in problem


def test_exactly_at_the_limit_fits_one_more_does_not():
    s = quotas(max_islands=3, max_memory="6Gi")
    assert q.decide(view(s, 2, 3 * GI), [3 * GI]) is None  # 3 of 3, 6Gi of 6Gi: exactly at both
    assert "limit 3" in q.decide(view(s, 3, 3 * GI), [1])
    over = q.decide(view(s, 2, 3 * GI), [3 * GI + 1])
    assert over is not None and "more memory would make" in over and "limit 6Gi" in over


def test_zero_limit_refuses_every_launch_and_says_so():
    s = quotas(max_islands=0)
    problem = q.decide(view(s), [1500 * MI])
    assert problem.startswith("刘电波 has 0 of 0 islands (0, no memory limit)")
    assert q.decide(view(quotas(max_memory="0")), [1]) is not None
    assert q.decide(view(s), []) is None  # nothing asked, nothing refused


def test_bulk_launch_is_decided_as_a_whole_over_by_one():
    s = quotas(max_islands=5)
    assert q.decide(view(s, 2), [MI] * 3) is None
    problem = q.decide(view(s, 2), [MI] * 4)
    assert "4 more islands would make 6 (limit 5)" in problem


def test_per_user_override_beats_group_beats_default():
    s = quotas(max_islands=2, max_memory="4Gi", users={"u1": {"max_islands": 10}},
               groups={"qa": {"max_islands": 4, "max_memory": "8Gi"}, "dev": {"max_islands": 6}})
    assert q.limits_for(s, "u9") == q.Limits(2, 4 * GI, "default")
    # in two groups: the most generous per field; memory from the only group that sets it
    assert q.limits_for(s, "u9", ("qa", "dev")) == q.Limits(6, 8 * GI, "group qa, dev")
    # the user's override sets islands; memory still comes from the group, then the default
    assert q.limits_for(s, "u1", ("qa",)) == q.Limits(10, 8 * GI, "user u1")
    assert q.limits_for(s, "u1") == q.Limits(10, 4 * GI, "user u1")
    # an unknown group grants nothing
    assert q.limits_for(s, "u9", ("nope",)).max_islands == 2


def test_unlimited_and_admins():
    s = quotas(max_islands=1, users={"boss": {"unlimited": True}}, groups={"ops": {"unlimited": True}})
    assert q.limits_for(s, "boss").unlimited
    assert q.limits_for(s, "x", ("ops",)).unlimited
    assert q.limits_for(s, "adm", is_admin=True) == q.Limits(None, None, "admin (exempt)")
    strict = quotas(max_islands=1, admins_exempt=False)
    assert q.limits_for(strict, "adm", is_admin=True).max_islands == 1
    assert q.decide(view(s, 99, 99 * GI, user="boss"), [GI] * 50) is None


def test_no_limit_configured_is_unlimited():
    v = view(QuotaSettings(), 7, 10 * GI)
    assert v.limits.unlimited and q.decide(v, [GI] * 100) is None
    assert v.line() == "刘电波 has 7 islands (no limit) (10Gi, no memory limit)"


@pytest.mark.parametrize("n, text", [
    (0, "0"), (6 * GI, "6Gi"), (int(4.5 * GI), "4.5Gi"), (1500 * MI, "1500Mi"), (4500 * MI, "4500Mi"),
    (GI + GI // 4, "1.25Gi"), (512 * MI, "512Mi"), (1024, "1Ki"), (1000, "1000"), (6 * GI + 1, "6Gi"),
])
def test_memory_as_people_read_it(n, text):
    assert q.human_memory(n) == text


@pytest.mark.parametrize("raw, expected", [("6Gi", 6 * GI), ("6144Mi", 6 * GI), ("6G", 6 * 10 ** 9),
                                           ("1.5Gi", int(1.5 * GI)), (None, None), ("", None), ("0", 0)])
def test_memory_limits_in_any_unit(raw, expected):
    assert q.memory_limit(raw, "quotas.max_memory") == expected


@pytest.mark.parametrize("raw", [
    {"max_islands": -1}, {"max_islands": "3"}, {"max_islands": True}, {"max_islands": 10 ** 9},
    {"max_islands": 1.5}, {"max_memory": "6 GB"}, {"max_memory": "$(id)"}, {"max_memory": "-1Gi"},
    {"max_memory": "六Gi"}, {"max_memory": "9" * 40 + "Ei"}, {"max_memory": [1]},
    {"users": {"u1": {"max_islands": -2}}}, {"groups": {"qa": {"max_memory": "lots"}}},
    {"users": {"u1": {"max_cpu": 3}}}, {"lock_wait": -1}, {"lock_wait": 1e9},
])
def test_bad_quota_settings_are_refused_naming_the_key(raw):
    with pytest.raises(ConfigError) as exc:
        settings_from_dict({"quotas": raw}, source="conf/island.yaml")
    message = exc.value.message
    assert "quotas." in message and "conf/island.yaml" in message and "\n" not in message


def test_unicode_ids_and_names_are_kept_exactly():
    s = quotas(max_islands=1, users={"王伟-1001": {"max_islands": 3}})
    assert q.limits_for(s, "王伟-1001").max_islands == 3
    assert q.limits_for(s, "王伟-1002").max_islands == 1  # ids compare exactly
    v = q.QuotaView("王伟-1001", "王伟", q.limits_for(s, "王伟-1001"), q.Usage(3, 0))
    assert q.decide(v, [MI]).startswith("王伟 has 3 of 3 islands (0, no memory limit)")


def test_settings_dataclasses_default_to_no_quota():
    assert QuotaSettings().max_islands is None and QuotaLimit().unlimited is False
    assert settings_from_dict({}).quotas == QuotaSettings()
