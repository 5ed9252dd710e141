import pytest

from island_ssh.core.errors import InvalidInput
from island_ssh.core.validate import (
    InvalidField,
    memory_bytes,
    validate_branch,
    validate_clock,
    validate_env,
    validate_image,
    validate_island_id,
    validate_memory,
    validate_memory_pair,
    validate_owner,
    validate_start_time,
)


@pytest.mark.parametrize("name", ["刘电波", "José O'Brien", "a", "x" * 64, "Анна-Мария", "李 四", "$(rm -rf /)", "`id`", "a: [b", "{{ owner }}", '"; DROP TABLE'])
def test_owner_accepted_as_data(name):
    assert validate_owner(name) == name


def test_owner_is_stripped_and_nfc_normalised():
    assert validate_owner("  Jose\u0301 ") == "José"


@pytest.mark.parametrize(
    "name, why",
    [("", "empty"), ("   ", "empty"), ("x" * 65, "at most 64"), ("a\nb", "U+000A"), ("a\tb", "control character (U+0009)"),
     ("a\x00b", "NUL"), ("a\u202eb", "RIGHT-TO-LEFT OVERRIDE"), ("a\ud800", "surrogate"), ("a\u2028b", "LINE SEPARATOR"),
     ("x" * 100_000, "at most 64"), (None, "expected text")],
)
def test_owner_refused(name, why):
    with pytest.raises(InvalidField) as info:
        validate_owner(name)
    assert info.value.field == "owner" and why in str(info.value)
    assert isinstance(info.value, InvalidInput)
    assert len(str(info.value)) < 200


def test_branch():
    assert validate_branch(" dev ", ["dev", "weekly"]) == "dev"
    with pytest.raises(InvalidField, match="not one of dev, weekly"):
        validate_branch("prod", ["dev", "weekly"])


@pytest.mark.parametrize("text, out", [("", ""), ("  ", ""), ("2021-09-18 23:30:07", "2021-09-18 23:30:07"),
                                       ("2024-02-29T00:00:00", "2024-02-29 00:00:00")])
def test_start_time_ok(text, out):
    assert validate_start_time(text) == out


@pytest.mark.parametrize("text", ["2023-02-29 00:00:00", "2021-09-18", "yesterday", "2021-09-18 23:30:07\n", "2021-09-18 23:30:07; x", "1960-01-01 00:00:00"])
def test_start_time_refused(text):
    with pytest.raises(InvalidField, match="^start time: "):
        validate_start_time(text.replace("\n", "\nx"))


@pytest.mark.parametrize("text, size", [("1500Mi", 1500 * 2**20), ("2Gi", 2 * 2**30), ("2G", 2 * 10**9), ("1.5Gi", 3 * 2**29), ("134217728", 2**27)])
def test_memory(text, size):
    assert validate_memory(text) == text and memory_bytes(text) == size


@pytest.mark.parametrize("text", ["", "2 Gi", "2gb", "-1Gi", "1Mi", "1Ti", "1e9", "Gi", "1.Gi", "2Gi\n"])
def test_memory_refused(text):
    with pytest.raises(InvalidField):
        validate_memory(text.replace("\n", "\nx"))


def test_memory_pair_request_above_limit():
    assert validate_memory_pair("1500Mi", "2048Mi") == ("1500Mi", "2048Mi")
    with pytest.raises(InvalidField, match="above the limit"):
        validate_memory_pair("3Gi", "2Gi")


@pytest.mark.parametrize("image", ["alpine", "alpine:3.14.1", "bo602505401/jdk8-curl-libfaketime:latest",
                                   "registry.example.com:5000/team/server:v1.2-rc_3",
                                   "alpine@sha256:" + "a" * 64, "localhost/x__y--z:t"])
def test_image_ok(image):
    assert validate_image(image) == image


@pytest.mark.parametrize("image", ["", "Alpine", "alpine:", "a b", "alpine;rm", "$(x)", "-alpine", "x" * 256, "alpine:" + "t" * 129])
def test_image_refused(image):
    with pytest.raises(InvalidField, match="^image: "):
        validate_image(image)


def test_env_ok_keeps_order_and_hostile_values():
    env = {"JAVA_OPTS": "-Xmx1g", "_X1": "$(reboot) `id` 'q' \"dq\" \n a: [b {{ x }}", "EMPTY": "", "CN": "你好"}
    assert validate_env(env) == env
    assert list(validate_env(list(env.items()))) == list(env)
    assert validate_env(None) == {}


@pytest.mark.parametrize(
    "env, why",
    [({"1X": "v"}, "must match"), ({"A-B": "v"}, "must match"), ({"": "v"}, "must match"), ({"É": "v"}, "must match"),
     ({"LD_PRELOAD": "/evil.so"}, "cannot be overridden"), ({"FAKETIME_NO_CACHE": "1"}, "cannot be overridden"),
     ({"ISLAND_TOKEN": "x"}, "cannot be overridden"), ({"username": "x"}, "cannot be overridden"),
     ({"A": "x\x00y"}, "NUL"), ({"A": "x" * 4097}, "at most 4096"), ({"A": 3}, "expected text"),
     ({f"V{i}": "" for i in range(33)}, "at most 32"), ([("A", "1"), ("A", "2")], "given twice"),
     ("A=1", "expected name=value pairs"), ([("A",)], "pair")],
)
def test_env_refused(env, why):
    with pytest.raises(InvalidField) as info:
        validate_env(env)
    assert why in str(info.value)


def test_clock_field_name():
    assert validate_clock("+1d").value == 86400
    with pytest.raises(InvalidField, match="^clock: "):
        validate_clock("next tuesday")


def test_island_id():
    assert validate_island_id("269", 1, 999) == 269
    assert validate_island_id(5, 1, 999) == 5
    for bad in ("0", "1000", "2a", "٣", "", "-1", True, 1.0):
        with pytest.raises(InvalidField, match="^island id: "):
            validate_island_id(bad, 1, 999)


# validate_launch -------------------------------------------------------------------------------

from dataclasses import dataclass as _dataclass, field as _field  # noqa: E402

from island_ssh.config import IslandSettings  # noqa: E402
from island_ssh.core.validate import ValidLaunch, validate_launch  # noqa: E402


@_dataclass(frozen=True)
class Request:  # the shape of service.LaunchRequest
    owner: str
    branch: str | None = None
    start_time: str = ""
    memory: str | None = None
    image: str | None = None
    env: dict = _field(default_factory=dict)


def test_launch_defaults_from_settings():
    checked = validate_launch(Request(" 刘电波 "), IslandSettings())
    assert checked == ValidLaunch("刘电波", "dev", "", "1500Mi", "2048Mi", "bo602505401/jdk8-curl-libfaketime:latest", {})
    assert checked.overrides() == {}


def test_launch_with_choices_and_overrides():
    checked = validate_launch(
        Request("a", "weekly", "2021-09-18T23:30:07", "3Gi", "alpine:3.19", {"JAVA_OPTS": "-Xmx2g"}),
        IslandSettings(images=["alpine:3.19"]))
    assert (checked.branch, checked.start_time) == ("weekly", "2021-09-18 23:30:07")
    assert (checked.memory_request, checked.memory_limit) == ("3Gi", "3Gi")
    assert checked.image == "alpine:3.19"
    assert checked.overrides() == {"start_time": "2021-09-18 23:30:07", "memory": "3Gi", "image": "alpine:3.19",
                                   "env": {"JAVA_OPTS": "-Xmx2g"}}


def test_launch_small_memory_keeps_default_limit():
    checked = validate_launch({"owner": "a", "memory": "512Mi"}, IslandSettings())
    assert (checked.memory_request, checked.memory_limit) == ("512Mi", "2048Mi")


@pytest.mark.parametrize(
    "changes, field",
    [({"owner": ""}, "owner"), ({"branch": "prod"}, "branch"), ({"start_time": "x"}, "start time"),
     ({"memory": "lots"}, "memory"), ({"image": "A B"}, "image"), ({"env": {"LD_PRELOAD": "x"}}, "env LD_PRELOAD")],
)
def test_launch_refusals_name_the_field(changes, field):
    with pytest.raises(InvalidField) as info:
        validate_launch(Request(**{"owner": "a", **changes}), IslandSettings())
    assert info.value.field == field
