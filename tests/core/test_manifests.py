"""Render the seed's Pod and compare it field by field; prove no user value can change the document."""

import dataclasses
import unicodedata

import pytest
import yaml
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from island_ssh.resources import load_template
from island_ssh.core.settings import HostAlias, IslandSettings
from island_ssh.core.errors import ConfigError, InvalidInput
from island_ssh.core.manifests import (
    IslandSpec,
    owner_slug,
    pod_name,
    render_pod,
    render_pv,
    render_pvc,
    server_env,
    to_yaml,
)
from island_ssh.core.validate import RESERVED_ENV_NAMES

from .helpers import seed_documents

TOKEN = "q3Jx2W0mZ7cR9kPz4hV1bA"


@pytest.fixture(scope="module")
def seed():
    pod, pv, pvc = seed_documents()
    return {"pod": pod, "pv": pv, "pvc": pvc}


@pytest.fixture(scope="module")
def seed_settings(seed):
    server = seed["pod"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in server["env"]}
    return IslandSettings(
        host_aliases=[HostAlias(a["ip"], a["hostnames"]) for a in seed["pod"]["spec"]["hostAliases"]],
        registration_url=env["curlServer"],
        faketime_lib=env["LD_PRELOAD"],
        faketime_file=env["FAKETIME_TIMESTAMP_FILE"],
        entry_script=server["command"][1],
        code_mount=server["volumeMounts"][0]["mountPath"],
        code_claim=seed["pod"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        side_image=seed["pod"]["spec"]["containers"][1]["image"],
    )


def seed_spec(**changes):
    base = IslandSpec(269, "刘电波", "dev", "2021-09-18 23:30:07", "1500Mi", "2048Mi",
                      "bo602505401/jdk8-curl-libfaketime:latest", {}, TOKEN, "false")
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def rendered(seed_settings):
    return render_pod(seed_spec(), seed_settings, "default", load_template("pod"))


def test_name_and_labels(rendered, seed):
    assert rendered["metadata"]["name"] == seed["pod"]["metadata"]["name"] == "altraserver-liudianbo-dev-269"
    labels = rendered["metadata"]["labels"]
    assert seed["pod"]["metadata"]["labels"].items() <= labels.items()
    assert labels["app"] == "altraserver" and labels["island-ssh/id"] == "269" and labels["branch"] == "dev"
    assert labels["app.kubernetes.io/managed-by"] == "island-ssh"
    assert rendered["metadata"]["annotations"] == {"island-ssh/owner": "刘电波"}
    assert rendered["metadata"]["namespace"] == "default"
    assert (rendered["apiVersion"], rendered["kind"]) == ("v1", "Pod")


@pytest.mark.parametrize("key", ["hostAliases", "nodeSelector", "dnsPolicy", "restartPolicy"])
def test_pod_spec_fields_equal_the_seed(rendered, seed, key):
    assert rendered["spec"][key] == seed["pod"]["spec"][key]


WORK = {"name": "island-work", "emptyDir": {}}
"""Our one added volume: the server's working directory, kept by the side container (README
"Crash forensics", "Where we differ from the seed's YAML")."""


def test_volumes_are_the_seeds_plus_the_work_directory(rendered, seed):
    assert rendered["spec"]["volumes"] == seed["pod"]["spec"]["volumes"] + [WORK]


@pytest.mark.parametrize("key", ["name", "image", "resources", "command", "ports", "readinessProbe"])
def test_server_container_fields_equal_the_seed(rendered, seed, key):
    assert rendered["spec"]["containers"][0][key] == seed["pod"]["spec"]["containers"][0][key]


def test_server_env_starts_with_the_seeds(rendered, seed):
    ours = rendered["spec"]["containers"][0]["env"]
    theirs = seed["pod"]["spec"]["containers"][0]["env"]
    assert ours[: len(theirs)] == theirs
    extra = {e["name"]: e.get("value", e.get("valueFrom")) for e in ours[len(theirs):]}
    assert extra == {
        "FAKETIME_CACHE_DURATION": "0", "ISLAND_TOKEN": {"secretKeyRef": {"name": "island-ssh-token-269", "key": "token"}}, "ISLAND_ID": "269", "ISLAND_PORTS": "30807 30808 30809",
        "SERVER_COMMAND": "sh /home/server/start.sh", "NODE_IP": {"fieldRef": {"fieldPath": "status.hostIP"}},
        "ISLAND_CODE_VERSION_FILE": "/home/server/VERSION",
    }


def test_code_is_mounted_read_only_where_the_seed_mounts_it(rendered, seed):
    mount, work = rendered["spec"]["containers"][0]["volumeMounts"]
    (theirs,) = seed["pod"]["spec"]["containers"][0]["volumeMounts"]
    assert {k: mount[k] for k in theirs} == theirs
    assert mount["readOnly"] is True
    assert work == {"name": "island-work", "mountPath": "/home/island-work"}
    assert rendered["spec"]["containers"][0]["workingDir"] == "/home/island-work"


def test_side_container_equals_the_seed(rendered, seed):
    side = dict(rendered["spec"]["containers"][1])
    # it also mounts the server's working directory (the remains) and the code (its version file)
    assert side.pop("volumeMounts") == [{"name": "island-work", "mountPath": "/home/island-work"},
                                        {"name": "server-pv-storage", "mountPath": "/home/server", "readOnly": True}]
    assert side == seed["pod"]["spec"]["containers"][1]


def test_rendered_keys_are_the_seeds_plus_known_additions(rendered, seed):
    assert set(rendered["spec"]) == set(seed["pod"]["spec"])
    # securityContext is where we differ on purpose: no capability is added by default (test_pod_policy.py)
    # workingDir: the shared work directory (README "Crash forensics")
    assert set(rendered["spec"]["containers"][0]) == (set(seed["pod"]["spec"]["containers"][0]) - {"securityContext"}
                                                      | {"workingDir"})


def test_pv_and_pvc_equal_the_seed(seed, seed_settings):
    assert render_pv(load_template("pv")) == seed["pv"]
    assert render_pv(load_template("pv"), seed_settings.code_mount) == seed["pv"]
    assert render_pvc(load_template("pvc")) == seed["pvc"]
    pvc = render_pvc(load_template("pvc"), seed_settings.code_claim, "default")
    assert pvc["metadata"].pop("namespace") == "default"
    assert pvc == seed["pvc"]
    assert render_pv(load_template("pv"), "/srv/code", storage="20Gi")["spec"]["hostPath"]["path"] == "/srv/code"


def test_to_yaml_round_trips_all_three(rendered, seed_settings):
    docs = [rendered, render_pv(load_template("pv")), render_pvc(load_template("pvc"), seed_settings.code_claim, "default")]
    text = to_yaml(docs)
    assert text.startswith("---\n") and text.count("\n---\n") == 2
    assert "刘电波" in text  # allow_unicode: readable, not \u escapes
    assert list(yaml.safe_load_all(text)) == docs


def test_reserved_env_covers_every_name_we_set(seed_settings):
    names = {e["name"] for e in server_env(seed_spec(), seed_settings)}
    assert names <= RESERVED_ENV_NAMES


def test_extra_env_comes_after_ours(seed_settings):
    pod = render_pod(seed_spec(extra_env={"JAVA_OPTS": "-Xmx1g", "B": "2"}), seed_settings, "ns", load_template("pod"))
    env = pod["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env[-2:]] == ["JAVA_OPTS", "B"]


def test_empty_start_time_and_host_aliases():
    pod = render_pod(seed_spec(start_time=""), IslandSettings(), "default", load_template("pod"))
    assert pod["spec"]["containers"][0]["command"][-1] == ""
    assert "hostAliases" not in pod["spec"]


def test_template_extras_pass_through():
    template = load_template("pod")
    template["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    pod = render_pod(seed_spec(), IslandSettings(), "default", template)
    assert pod["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert "tolerations" not in load_template("pod")["spec"]  # the cached template is not mutated


@pytest.mark.parametrize(
    "owner, name",
    [("刘电波", "altraserver-liudianbo-dev-7"), ("José O'Brien", "altraserver-joseobrien-dev-7"),
     ("Zoë 张", "altraserver-zoezhang-dev-7"), ("ABC123", "altraserver-abc123-dev-7")],
)
def test_pod_name_slug(owner, name):
    assert pod_name(owner, "dev", 7) == name


def test_pod_name_for_unsluggable_owner_is_stable_and_distinct():
    a, b = pod_name("Анна", "dev", 7), pod_name("Мария", "dev", 7)
    assert a == pod_name("Анна", "dev", 7) and a != b
    assert a.startswith("altraserver-u") and a.endswith("-dev-7")


def test_pod_name_truncated_to_63():
    name = pod_name("刘" * 64, "weekly", 11844)
    assert len(name) == 63 and name.endswith("-weekly-11844")
    assert owner_slug("刘" * 64).startswith(name[len("altraserver-"):-len("-weekly-11844")])


def test_pod_name_refuses_unusable_branch():
    with pytest.raises(InvalidInput):
        pod_name("a", "Dev_1", 1)
    with pytest.raises(ConfigError):
        pod_name("a", "b" * 50, 1)


@pytest.mark.parametrize(
    "changes, field",
    [({"owner": ""}, "owner"), ({"branch": "prod"}, "branch"), ({"start_time": "soon"}, "start time"),
     ({"memory_request": "9Gi"}, "memory request"), ({"image": "Bad Image"}, "image"),
     ({"extra_env": {"LD_PRELOAD": "x"}}, "env LD_PRELOAD"), ({"token": ""}, "token"),
     ({"debug_flag": "true; id"}, "debug flag"), ({"island_id": -1}, "island id")],
)
def test_render_validates_every_user_field(changes, field):
    with pytest.raises(InvalidInput) as info:
        render_pod(seed_spec(**changes), IslandSettings(), "default", load_template("pod"))
    assert str(info.value).startswith(field)


HOSTILE = [
    "'", '"', "\\", "$(reboot)", "`id`", "${HOME}", "a: [b", "{{ owner }}", "- x", "? y", "&anchor", "*alias",
    "!!python/object:os.system", "---", "...", "#comment", "%YAML 1.1", "key: value\nother: 1", "\n---\nkind: Secret",
    "x" * 4096, "null", "~", "true", "0x1F", "1e3", "2021-09-18", "@at", "|", ">", "\t", " lead", "trail ",
    "\u2028", "\u0085", "\ufeff", "😀", "刘电波\r\n", "\x1b[31mred",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_env_value_is_data(value):
    assert_round_trip(seed_spec(extra_env={"V": value}))


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_owner_is_refused_or_data(value):
    check_owner(value)


def check_owner(value):
    try:
        pod = assert_round_trip(seed_spec(owner=value))
    except InvalidInput as exc:
        assert str(exc).startswith("owner: ")
        return
    assert pod["metadata"]["annotations"]["island-ssh/owner"] == value.strip()


def assert_round_trip(spec, island=IslandSettings()):
    pod = render_pod(spec, island, "default", load_template("pod"))
    text = to_yaml([pod])
    docs = list(yaml.safe_load_all(text))
    assert docs == [pod]
    env = {e["name"]: e.get("value") for e in docs[0]["spec"]["containers"][0]["env"]}
    for name, value in spec.extra_env.items():
        assert env[name] == value
    assert len(docs[0]["spec"]["containers"][0]["env"]) == 13 + len(spec.extra_env)  # + ISLAND_CODE_VERSION_FILE
    assert set(docs[0]) == {"apiVersion", "kind", "metadata", "spec"}
    return pod


# YAML-significant characters drawn often, so the property does not rely on luck to find them.
TRICKY = st.sampled_from(list("'\"\\:-?#&*!|>%@`{}[],\n\r\t \x00\x85\u2028\u2029\ufeff\x1b") + ["---", "...", "$(", "刘"])
any_text = (
    st.text(st.characters(codec="utf-8"), max_size=80)
    | st.lists(TRICKY | st.text(max_size=3), max_size=12).map("".join)
    | st.sampled_from(HOSTILE)
)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(owner=any_text, value=any_text, start=any_text | st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")))
def test_round_trip_property(owner, value, start):
    spec = seed_spec(owner=owner, extra_env={"USER_VALUE": value}, start_time=start)
    try:
        pod = assert_round_trip(spec)
    except InvalidInput:
        return
    assert pod["metadata"]["annotations"]["island-ssh/owner"] == unicodedata.normalize("NFC", owner).strip()
    assert pod["spec"]["containers"][0]["command"][-1] == start.strip().replace("T", " ")


def test_to_wire_is_one_json_object_per_line_and_keeps_every_character(rendered):
    import json

    from island_ssh.core.manifests import to_wire
    docs = [rendered, {**rendered, "metadata": {**rendered["metadata"], "name": "second"}}]
    wire = to_wire(docs)
    assert wire.endswith(b"\n") and wire.count(b"\n") == 2  # JSON escapes every newline in a value
    assert [json.loads(line) for line in wire.split(b"\n")[:2]] == docs
    odd = {"kind": "Pod", "v": "a\u2028b\x85c𐀀刘\"'$(x)\n---"}
    assert json.loads(to_wire([odd])) == odd
