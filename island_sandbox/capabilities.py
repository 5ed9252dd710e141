"""Which Linux capabilities a container's processes get, as containerd's CRI plugin decides it.

Pure: a container spec in, capability numbers out. The runtime then drops every other capability
from the bounding set before it execs the command (``container_init``) and before an exec
(``runtime.exec_in``, through ``setpriv``), so a container runs as root with exactly this set,
as under containerd: the 14 defaults, plus ``securityContext.capabilities.add``, minus ``drop``;
``ALL`` in add (or ``privileged: true``) starts from every capability, ``ALL`` in drop from none;
names are upper-cased and prefixed with ``CAP_`` (so ``CAP_SYS_TIME`` in a spec is the unknown
``CAP_CAP_SYS_TIME``, a CreateContainerError, as with containerd).
"""

from __future__ import annotations

NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}
DEFAULTS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
            "CAP_AUDIT_WRITE")
"""containerd's default set for a container that asks for nothing (Docker's too)."""


class UnknownCapability(ValueError):
    """What runc refuses at container creation: the kubelet reports CreateContainerError."""


def _names(values, field: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UnknownCapability(f"securityContext.capabilities.{field} must be a list of names")
    return [v.upper() for v in values]


def container_capabilities(container: dict) -> tuple[int, ...]:
    """The capability numbers the container's processes keep, sorted."""
    context = container.get("securityContext") or {}
    capabilities = context.get("capabilities") or {}
    add, drop = _names(capabilities.get("add"), "add"), _names(capabilities.get("drop"), "drop")
    kept = set(NUMBERS) if context.get("privileged") is True or "ALL" in add else set(DEFAULTS)
    if "ALL" in drop:
        kept = set()
    for name in add:
        if name != "ALL":
            kept.add("CAP_" + name)
    for name in drop:
        if name != "ALL":
            kept.discard("CAP_" + name)
    unknown = sorted(name for name in kept if name not in NUMBERS)
    if unknown:
        raise UnknownCapability(f'failed to create containerd container: unknown capability "{unknown[0]}"')
    return tuple(sorted(NUMBERS[name] for name in kept))


def setpriv_bounding_set(numbers: tuple[int, ...]) -> str:
    """``setpriv --bounding-set`` argument keeping exactly ``numbers``."""
    by_number = {number: name for name, number in NUMBERS.items()}
    return ",".join(["-all", *(f"+{by_number[n].removeprefix('CAP_').lower()}" for n in numbers)])
