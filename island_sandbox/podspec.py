"""What a kubelet derives from a Pod spec before it runs anything. Pure: data in, data out.

Command and args against the image's defaults, env with the downward API, Secrets
(``secretKeyRef``) and ``$(VAR)`` expansion, the memory limit, named ports, probe settings, the managed /etc/hosts. Errors are
``ContainerConfigError``: the kubelet reports them as the container waiting with reason
CreateContainerConfigError, as Kubernetes does.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from island_ssh.core.quantity import QuantityError, parse_quantity


class ContainerConfigError(ValueError):
    """The container cannot be configured from its spec (an unsupported env source, a bad value)."""


class MissingSecret(ContainerConfigError):
    """A ``secretKeyRef`` names a Secret (or key) that does not exist yet: the kubelet keeps the
    container waiting and tries again, as Kubernetes does, so a Secret created after its pod
    still starts it."""


SecretLookup = Callable[[str], "dict | None"]
"""The pod namespace's Secret of that name, as the API server stores it, or None."""


@dataclass(frozen=True)
class PodFacts:
    """What the downward API can hand a container."""

    name: str
    namespace: str
    node_name: str
    host_ip: str
    pod_ip: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    uid: str = ""
    service_account: str = "default"


def pod_facts(pod: dict, host_ip: str) -> PodFacts:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    return PodFacts(
        name=meta.get("name", ""),
        namespace=meta.get("namespace") or "default",
        node_name=spec.get("nodeName") or "",
        host_ip=host_ip,
        pod_ip=host_ip,  # pods share the node's loopback address (see README, Kubelet)
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        uid=meta.get("uid") or "",
        service_account=spec.get("serviceAccountName") or "default",
    )


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand_references(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names are replaced, ``$$`` escapes a ``$``,
    unknown references stay as written."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR_REF.sub(replace, text)


_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def field_ref(path: str, facts: PodFacts) -> str:
    simple = {
        "metadata.name": facts.name,
        "metadata.namespace": facts.namespace,
        "metadata.uid": facts.uid,
        "spec.nodeName": facts.node_name,
        "spec.serviceAccountName": facts.service_account,
        "status.hostIP": facts.host_ip,
        "status.podIP": facts.pod_ip,
        "status.hostIPs": facts.host_ip,
        "status.podIPs": facts.pod_ip,
    }
    if path in simple:
        return simple[path]
    match = _LABEL_REF.match(path)
    if match:
        source = facts.labels if match.group(1) == "labels" else facts.annotations
        return source.get(match.group(2), "")
    raise ContainerConfigError(f"unsupported fieldRef fieldPath {path!r}")


def resource_field_ref(ref: dict, container: dict) -> str:
    resource = ref.get("resource", "")
    kind, _, what = resource.partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(what)
    if value is None:
        raise ContainerConfigError(f"resourceFieldRef {resource!r}: the container sets no such value")
    divisor = parse_quantity(ref.get("divisor") or 1)
    return str(-(-parse_quantity(value) // max(divisor, 1)))


def secret_key_ref(ref: dict, facts: PodFacts, secrets: SecretLookup | None) -> str | None:
    """The value of one key of a Secret, as the kubelet hands it over: data is base64 on the
    API, the process sees the decoded bytes. None: an ``optional`` reference that is absent.
    The messages are the kubelet's own (kubelet_pods.go makeEnvironmentVariables)."""
    name, key = ref.get("name") or "", ref.get("key") or ""
    optional = bool(ref.get("optional"))
    secret = secrets(name) if secrets is not None and name else None
    if secret is None:
        if optional:
            return None
        raise MissingSecret(f'secret "{name}" not found')
    data = secret.get("data") or {}
    if key not in data:
        if optional:
            return None
        raise MissingSecret(f"couldn't find key {key} in Secret {facts.namespace}/{name}")
    try:
        return base64.b64decode(data[key], validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        raise ContainerConfigError(f"Secret {facts.namespace}/{name}: key {key} is not base64") from None


def container_env(container: dict, facts: PodFacts, image_env: Mapping[str, str],
                  secrets: SecretLookup | None = None) -> dict[str, str]:
    """The environment a container process starts with, in Kubernetes' precedence order:
    image defaults, then the container's env (each ``$(VAR)`` expanded against what came before),
    then the sandbox's own SANDBOX_POD_IP. ``secrets`` finds the Secrets ``secretKeyRef`` names
    (in the pod's namespace) at container start, as the kubelet reads them from the API server."""
    env: dict[str, str] = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env.update(image_env)
    env["HOSTNAME"] = facts.name
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            raise ContainerConfigError("an env entry has no name")
        if "value" in item or "valueFrom" not in item:
            env[name] = expand_references(str(item.get("value") or ""), env)
            continue
        source = item["valueFrom"] or {}
        if "fieldRef" in source:
            env[name] = field_ref((source["fieldRef"] or {}).get("fieldPath", ""), facts)
        elif "resourceFieldRef" in source:
            env[name] = resource_field_ref(source["resourceFieldRef"] or {}, container)
        elif "secretKeyRef" in source:
            value = secret_key_ref(source["secretKeyRef"] or {}, facts, secrets)
            if value is not None:
                env[name] = value
        else:
            kinds = ", ".join(sorted(source)) or "nothing"
            raise ContainerConfigError(
                f"env {name}: valueFrom {kinds} is not supported by the sandbox kubelet "
                "(it resolves fieldRef, resourceFieldRef and secretKeyRef only)")
    env["SANDBOX_POD_IP"] = facts.pod_ip
    return env


def container_argv(container: dict, entrypoint: list[str], cmd: list[str], env: Mapping[str, str]) -> list[str]:
    """Docker's ENTRYPOINT/CMD against Kubernetes' command/args: command replaces the entrypoint
    (and drops the image's CMD), args replace CMD; ``$(VAR)`` expands in both."""
    command, args = container.get("command"), container.get("args")
    if command:
        argv = list(command) + list(args or [])
    elif args:
        argv = list(entrypoint) + list(args)
    else:
        argv = list(entrypoint) + list(cmd)
    argv = [expand_references(str(part), env) for part in argv]
    if not argv:
        raise ContainerConfigError("no command specified: the container has no command and its image no default")
    return argv


def memory_limit(container: dict) -> int | None:
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if value is None:
        return None
    try:
        limit = parse_quantity(value)
    except QuantityError as exc:
        raise ContainerConfigError(f"resources.limits.memory: {exc}") from None
    return limit if limit > 0 else None


def resolve_port(port: Any, container: dict) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for entry in container.get("ports") or []:
        if entry.get("name") == port:
            return int(entry["containerPort"])
    raise ContainerConfigError(f"probe port {port!r} is neither a number nor a named port of the container")


@dataclass(frozen=True)
class ProbeSpec:
    """A probe's timing (Kubernetes' defaults) and what it checks."""

    kind: str                        # "tcpSocket" or "exec"
    port: int = 0
    host: str = ""
    command: tuple[str, ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def probe_spec(probe: dict | None, container: dict, pod_ip: str) -> ProbeSpec | None:
    if not probe:
        return None
    timing = dict(
        initial_delay=float(probe.get("initialDelaySeconds") or 0),
        period=float(probe.get("periodSeconds") or 10),
        timeout=float(probe.get("timeoutSeconds") or 1),
        success_threshold=int(probe.get("successThreshold") or 1),
        failure_threshold=int(probe.get("failureThreshold") or 3),
    )
    if "tcpSocket" in probe:
        tcp = probe["tcpSocket"] or {}
        return ProbeSpec("tcpSocket", port=resolve_port(tcp.get("port"), container),
                         host=tcp.get("host") or pod_ip, **timing)
    if "exec" in probe:
        return ProbeSpec("exec", command=tuple((probe["exec"] or {}).get("command") or ()), **timing)
    kinds = ", ".join(sorted(k for k in probe if not k.endswith("Seconds") and not k.endswith("Threshold")))
    raise ContainerConfigError(f"probe type {kinds or '?'} is not supported by the sandbox kubelet "
                               "(tcpSocket and exec are)")


def hosts_file(facts: PodFacts, host_aliases: list[dict] | None) -> str:
    """The kubelet-managed /etc/hosts, hostAliases appended as Kubernetes writes them."""
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
        f"{facts.pod_ip}\t{facts.name}",
    ]
    if host_aliases:
        lines += ["", "# Entries added by HostAliases."]
        for alias in host_aliases:
            names = [str(h) for h in alias.get("hostnames") or []]
            if alias.get("ip") and names:
                lines.append("\t".join([str(alias["ip"]), *names]))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class VolumeMount:
    volume: str
    mount_path: str
    read_only: bool
    sub_path: str = ""


def volume_mounts(container: dict, known_volumes: Mapping[str, Any]) -> list[VolumeMount]:
    mounts = []
    for item in container.get("volumeMounts") or []:
        name, path = item.get("name", ""), item.get("mountPath", "")
        if name not in known_volumes:
            raise ContainerConfigError(f"volumeMount {name!r}: the pod has no volume of that name")
        if not path.startswith("/"):
            raise ContainerConfigError(f"volumeMount {name!r}: mountPath {path!r} must be absolute")
        mounts.append(VolumeMount(name, path, bool(item.get("readOnly")), item.get("subPath") or ""))
    return mounts
