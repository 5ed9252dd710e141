"""What an island's pod may run (images) and with which added privileges (capabilities).

Pure: no I/O. Two policies the operator sets in ``conf/island.yaml``:

- ``islands.images`` / ``islands.admin_images``: the allow-list of server images. An entry is an
  exact image reference (``bo602505401/jdk8-curl-libfaketime:latest``) or, ending in ``/``, a
  registry/repository prefix (``bo602505401/``, ``registry.studio.local/game/``). The default image
  (``islands.image``) is always allowed: the operator chose it. Admins may use both lists. The
  seed let anyone name any image; an image is code run on our nodes with our code volume mounted,
  so choosing it is a privilege.
- ``islands.capabilities_add``: Linux capabilities added to the server container. Only a small set
  that acts inside the pod is accepted; ``SYS_TIME`` (the seed had it) would let a tester's server
  set the *node's* clock, moving every island on that node, which is exactly what per-island
  clocks exist to prevent (libfaketime needs no capability).
"""

from __future__ import annotations

from collections.abc import Iterable

from island_ssh.core.errors import ConfigError, InvalidField
from island_ssh.core.settings import IslandSettings
from island_ssh.core.image_refs import show as _show, validate_image

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
"""The Pod Security Standards' "baseline" list: capabilities a container may add without harm
beyond itself (most runtimes grant them anyway)."""
ALLOWED_CAPABILITIES = BASELINE_CAPABILITIES | {"NET_ADMIN", "NET_RAW"}
"""Baseline plus the two that act only on the pod's own network namespace (the seed's server had
NET_ADMIN). Anything else (SYS_TIME, SYS_ADMIN, SYS_MODULE, ALL, ...) reaches past the pod."""
NETWORK_CAPABILITIES = frozenset({"NET_ADMIN", "NET_RAW"})
"""Refused when the pod template shares the node's network (hostNetwork): they would act on the node."""
SHOWN_MAX = 240


def check_capabilities(values: object, key: str = "islands.capabilities_add") -> list[str]:
    """The configured added capabilities, checked; ConfigError naming the bad one and the allowed set."""
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{key}: expected a list of capability names like [NET_ADMIN], got {_show(values)}")
    allowed = ", ".join(sorted(ALLOWED_CAPABILITIES))
    seen: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: {_show(value)} is not a capability name; allowed: {allowed}")
        name = value.strip()
        hint = ""
        if name.upper().startswith("CAP_"):
            hint = f" (write it without CAP_: {name[4:].upper()})"
        elif name != name.upper():
            hint = f" (write it in capitals: {name.upper()})"
        if name not in ALLOWED_CAPABILITIES:
            why = {"SYS_TIME": "it would let a server set the node's clock and move every island on that node; "
                               "island clocks are libfaketime's and need no capability",
                   "ALL": "it would give the server every capability, the node's clock and mounts included"
                   }.get(name.upper().removeprefix("CAP_"), "it reaches past the island's own pod")
            raise ConfigError(f"{key}: {_show(value)} is refused{hint}: {why}; allowed: {allowed}")
        if name not in seen:
            seen.append(name)
    return seen


def check_image_entries(entries: object, key: str) -> list[str]:
    """``islands.images`` / ``islands.admin_images`` checked: exact references or prefixes ending in '/'."""
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(f"{key}: expected a list of images or registry/repository prefixes, got {_show(entries)}")
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip("/ "):
            raise ConfigError(f"{key}: {_show(entry)} is not an image or a prefix like registry.studio.local/game/ "
                              "(an empty entry would allow every image)")
        try:
            # a prefix must itself be a well-formed start of a reference: "evil" + "x" must parse
            validate_image(entry + "x" if entry.endswith("/") else entry)
        except InvalidField:
            raise ConfigError(f"{key}: {_show(entry)} is neither an image reference (repo/name:tag) nor a "
                              "registry/repository prefix ending in '/'") from None
    return list(entries)


def check_settings(islands: IslandSettings) -> None:
    """Everything above, for config load (ConfigError) and again before a pod is rendered."""
    check_capabilities(islands.capabilities_add)
    check_image_entries(islands.images, "islands.images")
    check_image_entries(islands.admin_images, "islands.admin_images")


def allowed_entries(islands: IslandSettings, admin: bool) -> list[str]:
    entries = [islands.image, *islands.images]
    if admin:
        entries += islands.admin_images
    return list(dict.fromkeys(entries))


def image_allowed(image: str, entries: Iterable[str]) -> bool:
    for entry in entries:
        # a prefix ends in '/', so "registry.studio.local/" never matches "registry.studio.local.evil/x"
        if entry.endswith("/") and image.startswith(entry) and len(image) > len(entry):
            return True
        if image == entry:
            return True
    return False


def describe_allowed(entries: list[str]) -> str:
    exact = [e for e in entries if not e.endswith("/")]
    prefixes = [e for e in entries if e.endswith("/")]
    parts = []
    if exact:
        parts.append(", ".join(exact))
    if prefixes:
        parts.append("anything under " + ", ".join(prefixes))
    text = "; ".join(parts)
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX - 3] + "..."


def check_image(value: object, islands: IslandSettings, admin: bool = False) -> str:
    """The image a user asked for, if well-formed and allowed; else InvalidField("image") saying what is."""
    entries = allowed_entries(islands, admin)
    allowed = describe_allowed(entries)
    try:
        image = validate_image(value)
    except InvalidField as exc:
        raise InvalidField("image", f"{exc.message.split(': ', 1)[-1]}; allowed: {allowed}") from None
    if not image_allowed(image, entries):
        more = "" if admin or not islands.admin_images else " (admins may use more)"
        raise InvalidField("image", f"{_show(image)} is not allowed here; allowed: {allowed}{more}; "
                                    "ask an operator to add it to islands.images")
    return image
