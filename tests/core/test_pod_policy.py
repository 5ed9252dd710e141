"""Images are an allow-list and added capabilities a checked setting (issue 11, hole 1).

On the code before: any well-formed image from any registry was accepted, and every pod was
rendered with the seed's ``add: [NET_ADMIN, SYS_TIME]``.
"""

import dataclasses
import json

import pytest

from island_ssh.config import load_settings, settings_from_dict
from island_ssh.core.errors import ConfigError, InvalidField
from island_ssh.core.manifests import IslandSpec, render_pod
from island_ssh.core.pod_policy import ALLOWED_CAPABILITIES, check_image
from island_ssh.core.settings import IslandSettings
from island_ssh.core.validate import validate_launch
from island_ssh.resources import conf_file, load_template

DEFAULT_IMAGE = "bo602505401/jdk8-curl-libfaketime:latest"
TOKEN = "q3Jx2W0mZ7cR9kPz4hV1bA"


def render(settings: IslandSettings, template: dict | None = None, **spec) -> dict:
    base = IslandSpec(269, "刘电波", "dev", "", token=TOKEN, image=spec.pop("image", settings.image))
    return render_pod(dataclasses.replace(base, **spec), settings, "default", template or load_template("pod"))


def containers(pod: dict) -> dict:
    return {c["name"]: c for c in pod["spec"]["containers"]}


# -- capabilities -----------------------------------------------------------------------------------
def test_default_pod_adds_no_capability_and_never_sys_time():
    pod = render(load_settings(conf_file("island.yaml"), environ={}).islands)
    assert "SYS_TIME" not in json.dumps(pod)
    for container in pod["spec"]["containers"]:
        assert "capabilities" not in container.get("securityContext", {}), container["name"]


def test_configured_capability_reaches_the_server_only():
    pod = render(IslandSettings(capabilities_add=["NET_ADMIN"]))
    by_name = containers(pod)
    assert by_name["altraserver"]["securityContext"] == {"capabilities": {"add": ["NET_ADMIN"]}}
    assert "securityContext" not in by_name["side-container"]


def test_template_capabilities_are_replaced_not_kept():
    # a template edited back to the seed's list still renders what the setting says
    template = load_template("pod")
    for c in template["spec"]["containers"]:
        c["securityContext"] = {"capabilities": {"add": ["NET_ADMIN", "SYS_TIME"], "drop": ["MKNOD"]},
                                "readOnlyRootFilesystem": False}
    by_name = containers(render(IslandSettings(), template))
    for name in ("altraserver", "side-container"):
        assert by_name[name]["securityContext"] == {"capabilities": {"drop": ["MKNOD"]},
                                                    "readOnlyRootFilesystem": False}


@pytest.mark.parametrize("value", ["SYS_TIME", "SYS_ADMIN", "ALL", "CAP_SYS_TIME", "sys_time", "SYS_MODULE",
                                   "NET_ADMIN\nSYS_TIME", "", 7])
def test_capability_outside_the_allowed_set_stops_config_load(value):
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"islands": {"capabilities_add": ["NET_ADMIN", value]}}, source="conf/x.yaml")
    text = info.value.message
    assert text.startswith("conf/x.yaml: islands.capabilities_add: ")
    assert "allowed: " in text and "NET_ADMIN" in text and "\n" not in text


def test_sys_time_refusal_says_why():
    with pytest.raises(ConfigError, match="set the node's clock"):
        settings_from_dict({"islands": {"capabilities_add": ["SYS_TIME"]}})


def test_capability_from_the_environment_is_checked_too():
    with pytest.raises(ConfigError, match="islands.capabilities_add: 'SYS_TIME'"):
        load_settings(conf_file("island.yaml"), environ={"ISLAND_SSH_ISLANDS_CAPABILITIES_ADD": "[SYS_TIME]"})


def test_capabilities_not_a_list_refused():
    with pytest.raises(ConfigError, match="expected a list"):
        settings_from_dict({"islands": {"capabilities_add": "NET_ADMIN"}})


def test_every_allowed_capability_loads_and_renders():
    settings = settings_from_dict({"islands": {"capabilities_add": sorted(ALLOWED_CAPABILITIES)}})
    added = containers(render(settings.islands))["altraserver"]["securityContext"]["capabilities"]["add"]
    assert added == sorted(ALLOWED_CAPABILITIES)


def test_settings_made_in_code_are_checked_at_render():
    with pytest.raises(ConfigError, match="SYS_TIME"):
        render(IslandSettings(capabilities_add=["SYS_TIME"]))


def test_network_capability_with_host_network_refused():
    template = load_template("pod")
    template["spec"]["hostNetwork"] = True
    with pytest.raises(ConfigError, match="hostNetwork"):
        render(IslandSettings(capabilities_add=["NET_ADMIN"]), template)
    assert render(IslandSettings(), template)["spec"]["hostNetwork"] is True


# -- the image allow-list ----------------------------------------------------------------------------
STUDIO = IslandSettings(images=[DEFAULT_IMAGE, "registry.studio.local/game/", "bo602505401/"],
                        admin_images=["registry.studio.local/tools/"])


def test_default_image_is_allowed_by_default():
    settings = load_settings(conf_file("island.yaml"), environ={})
    assert check_image(settings.islands.image, settings.islands) == DEFAULT_IMAGE
    assert validate_launch({"owner": "a"}, settings.islands).image == DEFAULT_IMAGE


def test_configured_default_image_is_allowed_even_when_unlisted():
    settings = IslandSettings(image="registry.studio.local/other/server:9", images=[])
    assert check_image("registry.studio.local/other/server:9", settings) == "registry.studio.local/other/server:9"


@pytest.mark.parametrize("image", [DEFAULT_IMAGE, "registry.studio.local/game/server:2024.1",
                                   "registry.studio.local/game/deep/path@sha256:" + "a" * 64,
                                   "bo602505401/anything:else"])
def test_listed_images_and_prefixes_allowed(image):
    assert check_image(image, STUDIO) == image


@pytest.mark.parametrize("image", [
    "alpine:3.19", "evil.example/x:1", "docker.io/bo602505401/jdk8-curl-libfaketime:latest",
    "bo602505401:5000/x", "bo602505401x/y", "registry.studio.local/gamex/y",
    "registry.studio.local.evil.example/game/x", "registry.studio.local/game"])
def test_unlisted_images_refused_naming_field_image_and_allowed(image):
    with pytest.raises(InvalidField) as info:
        check_image(image, STUDIO)
    assert info.value.field == "image"
    assert repr(image)[:30] in info.value.message
    assert "allowed: " + DEFAULT_IMAGE in info.value.message
    assert "registry.studio.local/game/" in info.value.message


def test_exact_entry_is_exact():
    for near in (DEFAULT_IMAGE + "2", DEFAULT_IMAGE.replace(":latest", ":old"), DEFAULT_IMAGE.replace(":latest", "")):
        with pytest.raises(InvalidField, match="is not allowed here"):
            check_image(near, IslandSettings())


def test_admin_images_only_for_admins():
    image = "registry.studio.local/tools/debug:1"
    with pytest.raises(InvalidField, match="admins may use more"):
        check_image(image, STUDIO)
    assert check_image(image, STUDIO, admin=True) == image
    assert validate_launch({"owner": "a", "image": image, "is_admin": True}, STUDIO).image == image
    with pytest.raises(InvalidField):
        validate_launch({"owner": "a", "image": image}, STUDIO)
    with pytest.raises(InvalidField):  # only a real True counts, not a truthy string from a form
        validate_launch({"owner": "a", "image": image, "is_admin": "yes"}, STUDIO)


HOSTILE = ["bo602505401/x'; rm -rf /", 'bo602505401/x"', "bo602505401/$(reboot)", "bo602505401/`id`",
           "bo602505401/x\nimage: evil/x", "bo602505401/x\r\nimage: y", "bo602505401/{a: b}", "bo602505401/- x",
           "bo602505401/x: y", "bo602505401/&anchor *ref", "bo602505401/岛:latest", "bo602505401/x\u2028y",
           "bo602505401/x\x00", "bo602505401/x\x1b[2J", "bo602505401/" + "a" * 10_000, "a" * 10_240,
           "registry.studio.local/game/../../evil/x", "registry.studio.local/game/%2e%2e/x", " ", "\ud800"]


@pytest.mark.parametrize("image", HOSTILE)
def test_hostile_image_strings_refused_cleanly(image):
    with pytest.raises(InvalidField) as info:
        validate_launch({"owner": "a", "image": image, "is_admin": True}, STUDIO)
    message = info.value.message
    assert info.value.field == "image" and message.startswith("image: ")
    assert "allowed: " in message
    assert len(message) < 700 and "\n" not in message and "\x1b" not in message and "\x00" not in message


@pytest.mark.parametrize("entries", [[""], ["/"], ["bad image"], ["a b/"], ["x/../"], ["x//"],
                                     "bo602505401/"])
def test_bad_allow_list_entries_stop_config_load(entries):
    with pytest.raises(ConfigError, match="islands.admin_images"):
        settings_from_dict({"islands": {"admin_images": entries}})
