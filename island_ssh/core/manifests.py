"""Render the island Pod (and the shared PV / PVC) from ``yaml_templates/`` as data.

Pure: no files, sockets, DB, threads or clock. The caller gives the templates as data
(``island_ssh.resources.load_template`` reads the shipped ones); rendering fills fields of a deep copy and ``to_yaml`` dumps
with ``yaml.safe_dump_all``, so no value a user gives can break or extend the document: it is
always one scalar in the tree. Every user value is validated (``island_ssh.core.validate``) first.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field

import yaml
from pypinyin import Style, lazy_pinyin

from island_ssh.core import pod_policy, validate
from island_ssh.core.code_version import file_path
from island_ssh.core.settings import IslandSettings
from island_ssh.core.errors import ConfigError, InvalidInput
from island_ssh.core.names import APP, ID_LABEL, MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION, SERVER_CONTAINER, SIDE_CONTAINER
from island_ssh.core.clock_files import ENTRY_ARG_PATTERNS
from island_ssh.core.ports import ports_for
from island_ssh.core.token_secret import token_env_for

PORT_NAMES = ("app-common-port", "remote-msg-port", "server-port")
NAME_MAX = 63
_TOKEN = re.compile(r"[A-Za-z0-9_.~+/=-]{16,256}\Z")
_DEBUG_FLAG = re.compile(r"[A-Za-z0-9_-]{1,16}\Z")


ENTRY_ARGS = [re.compile(pattern) for pattern in ENTRY_ARG_PATTERNS.values()]


@dataclass(frozen=True)
class IslandSpec:
    island_id: int
    owner: str
    branch: str
    start_time: str = ""
    """``YYYY-MM-DD HH:MM:SS`` the island's clock starts at, or "" for real time; on a restart or
    re-apply, the stored clock as entry_clock_arg gives it (see ``start_clock``)."""
    memory_request: str = "1500Mi"
    memory_limit: str = "2048Mi"
    image: str = "bo602505401/jdk8-curl-libfaketime:latest"
    extra_env: dict = field(default_factory=dict)
    token: str = ""
    """Per-island secret the registration call presents; checked here, but carried by the island's
    Secret (``core.token_secret.render_secret``): the pod only references it."""
    debug_flag: str = "false"


def owner_slug(owner: str) -> str:
    """Lower-case ASCII letters and digits for the pod name: 刘电波 -> liudianbo, José -> jose."""
    syllables = lazy_pinyin(owner, style=Style.NORMAL)
    ascii_text = unicodedata.normalize("NFKD", "".join(syllables)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def pod_name(owner: str, branch: str, island_id: int) -> str:
    """``altraserver-{owner slug}-{branch}-{id}``, a DNS-1123 label of at most 63 characters."""
    validate.validate_branch_name(branch)
    suffix = f"-{branch}-{island_id}"
    room = NAME_MAX - len(APP) - 1 - len(suffix)
    if room < 1:
        raise ConfigError(f"branch {branch!r} is too long for a pod name; use at most 40 characters")
    slug = owner_slug(owner)
    if not slug:
        # Only ids make names unique; the hash just keeps different owners' names apart.
        slug = "u" + hashlib.sha256(owner.encode("utf-8")).hexdigest()[:8]
    return f"{APP}-{slug[:room]}{suffix}"


def validated_spec(spec: IslandSpec, settings: IslandSettings) -> IslandSpec:
    """The spec with every user-typed field checked and normalised; raises InvalidInput."""
    if isinstance(spec.island_id, bool) or not isinstance(spec.island_id, int) or spec.island_id < 0:
        raise InvalidInput(f"island id: expected a whole number >= 0, got {spec.island_id!r}")
    branch = validate.validate_branch(spec.branch, settings.branches)
    validate.validate_branch_name(branch)
    request, limit = validate.validate_memory_pair(spec.memory_request, spec.memory_limit)
    if not isinstance(spec.token, str) or not _TOKEN.match(spec.token):
        raise InvalidInput("token: expected 16..256 URL-safe characters (make it with secrets.token_urlsafe)")
    if not isinstance(spec.debug_flag, str) or not _DEBUG_FLAG.match(spec.debug_flag):
        raise InvalidInput(f"debug flag: {spec.debug_flag!r} must be a short word like true or false")
    return IslandSpec(
        island_id=spec.island_id,
        owner=validate.validate_owner(spec.owner),
        branch=branch,
        start_time=start_clock(spec.start_time),
        memory_request=request,
        memory_limit=limit,
        image=validate.validate_image(spec.image),
        extra_env=validate.validate_env(spec.extra_env),
        token=spec.token,
        debug_flag=spec.debug_flag,
    )


def start_clock(value: object) -> str:
    """The entry script's clock argument: a user's start time (validated), or a restart's stored
    clock as core.clock_files.entry_clock_arg writes it (``+O x1``, ``=EPOCH``, ``~F T R``)."""
    if isinstance(value, str) and any(p.fullmatch(value) for p in ENTRY_ARGS):
        return value
    return validate.validate_start_time(value)


def server_env(spec: IslandSpec, settings: IslandSettings) -> list[dict]:
    """The server container's env: what the entry script and libfaketime need, then the extra env."""
    ports = ports_for(spec.island_id, settings.port_start, settings.ports_per_island)
    env = [
        {"name": "curlServer", "value": settings.registration_url},
        {"name": "username", "value": spec.owner},
        {"name": "LD_PRELOAD", "value": settings.faketime_lib},
        {"name": "FAKETIME_TIMESTAMP_FILE", "value": settings.faketime_file},
        {"name": "FAKETIME_DONT_RESET", "value": "1"},
        {"name": "FAKETIME_DONT_FAKE_MONOTONIC", "value": "1"},
        {"name": "FAKETIME_CACHE_DURATION", "value": str(settings.faketime_cache_duration)},
        token_env_for(spec.island_id),  # from the island's Secret, not readable with `get pods`
        {"name": "ISLAND_ID", "value": str(spec.island_id)},
        {"name": "ISLAND_PORTS", "value": " ".join(str(p) for p in ports)},
        {"name": "SERVER_COMMAND", "value": settings.server_command},
        {"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        # the entry script reads it and registers its first line (core.code_version)
        {"name": "ISLAND_CODE_VERSION_FILE", "value": file_path(settings.code_mount, settings.code_version_file)},
    ]
    env.extend({"name": name, "value": value} for name, value in spec.extra_env.items())
    return env


def _container(pod: dict, name: str) -> dict:
    for container in pod["spec"]["containers"]:
        if container.get("name") == name:
            return container
    raise ConfigError(f"yaml_templates/pod.yaml: no container named {name!r}")


def render_pod(spec: IslandSpec, settings: IslandSettings, namespace: str, template: dict) -> dict:
    """The island's Pod object as a dict, validated, from ``template`` (yaml_templates/pod.yaml's data)."""
    spec = validated_spec(spec, settings)
    pod = copy.deepcopy(template)
    ports = ports_for(spec.island_id, settings.port_start, settings.ports_per_island)
    meta = pod.setdefault("metadata", {})
    meta["name"] = pod_name(spec.owner, spec.branch, spec.island_id)
    meta["namespace"] = namespace
    labels = meta.get("labels") or {}
    labels.update({"app": APP, ID_LABEL: str(spec.island_id), "branch": spec.branch,
                   MANAGED_BY_LABEL: MANAGED_BY})
    meta["labels"] = labels
    meta["annotations"] = {**(meta.get("annotations") or {}), OWNER_ANNOTATION: spec.owner}

    body = pod["spec"]
    body["volumes"][0]["persistentVolumeClaim"]["claimName"] = settings.code_claim
    if settings.host_aliases:
        body["hostAliases"] = [{"ip": a.ip, "hostnames": list(a.hostnames)} for a in settings.host_aliases]
    else:
        body.pop("hostAliases", None)
    body["nodeSelector"] = {**(body.get("nodeSelector") or {}), "branch": spec.branch}

    server = _container(pod, SERVER_CONTAINER)
    server["image"] = spec.image
    server["resources"] = {"limits": {"memory": spec.memory_limit}, "requests": {"memory": spec.memory_request}}
    server["env"] = server_env(spec, settings)
    server["command"] = ["sh", settings.entry_script, str(spec.island_id), spec.debug_flag,
                         str(1000 + spec.island_id), spec.start_time]
    server["volumeMounts"][0]["mountPath"] = settings.code_mount
    by_name = {p["name"]: p for p in server["ports"]}
    for port_name, number in zip(PORT_NAMES, ports):
        by_name[port_name]["containerPort"] = number
        by_name[port_name]["hostPort"] = number
    probe = server["readinessProbe"]
    probe["initialDelaySeconds"] = settings.readiness_initial_delay
    probe["periodSeconds"] = settings.readiness_period
    probe["timeoutSeconds"] = settings.readiness_timeout
    probe["failureThreshold"] = settings.readiness_failure_threshold
    side = _container(pod, SIDE_CONTAINER)
    side["image"] = settings.side_image
    _fill_mounts(server, side, settings)
    set_capabilities(server, settings.capabilities_add, body)
    # the side container only runs `tail -f /dev/null`: it never gets added capabilities
    set_capabilities(side, [], body)
    return pod


def _fill_mounts(server: dict, side: dict, settings: IslandSettings) -> None:
    """Mount paths by volume name; the server works in islands.remains_dir, which the side container
    shares and keeps after the server ends (core/remains.py, README "Crash forensics")."""
    paths = {"island-work": settings.remains_dir, "server-pv-storage": settings.code_mount}
    for container in (server, side):
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") in paths:
                mount["mountPath"] = paths[mount["name"]]
    if any(m.get("name") == "island-work" for m in server.get("volumeMounts") or []):
        server["workingDir"] = settings.remains_dir
    else:
        server.pop("workingDir", None)


def set_capabilities(container: dict, added: list[str], pod_spec: dict) -> None:
    """``securityContext.capabilities.add`` from the setting (checked again here: a Settings made in
    code skips config load), whatever the template says; dropped when empty."""
    added = pod_policy.check_capabilities(added)
    if pod_spec.get("hostNetwork") and set(added) & pod_policy.NETWORK_CAPABILITIES:
        raise ConfigError("islands.capabilities_add: NET_ADMIN/NET_RAW with hostNetwork in yaml_templates/pod.yaml "
                          "would act on the node's network; drop one of them")
    context = container.get("securityContext") or {}
    capabilities = {k: v for k, v in (context.get("capabilities") or {}).items() if k != "add"}
    if added:
        capabilities["add"] = list(added)
    if capabilities:
        context["capabilities"] = capabilities
    else:
        context.pop("capabilities", None)
    if context:
        container["securityContext"] = context
    else:
        container.pop("securityContext", None)


def render_pv(template: dict, host_path: str = "/home/server", name: str = "server-pv-volume",
              storage: str = "10Gi") -> dict:
    """The shared code PersistentVolume: a hostPath (where CI puts the code on each node), as in the seed."""
    pv = copy.deepcopy(template)
    pv["metadata"]["name"] = name
    pv["spec"]["capacity"]["storage"] = storage
    pv["spec"]["hostPath"]["path"] = host_path
    return pv


def render_pvc(template: dict, claim_name: str = "server-pv-claim", namespace: str | None = None,
               storage: str = "8Gi") -> dict:
    """The claim every island mounts (``islands.code_claim``); namespace None leaves kubectl's current one."""
    pvc = copy.deepcopy(template)
    pvc["metadata"]["name"] = claim_name
    if namespace is None:
        pvc["metadata"].pop("namespace", None)
    else:
        pvc["metadata"]["namespace"] = namespace
    pvc["spec"]["resources"]["requests"]["storage"] = storage
    return pvc


_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


class _ManifestDumper(yaml.SafeDumper):
    """SafeDumper that double-quotes strings holding Unicode line breaks.

    PyYAML writes NEL (U+0085) unescaped in single-quoted scalars, and its loader then folds it
    into a space: the value would change on the way. Double quotes escape it as ``\\N``.
    """


# kubectl's YAML reader (go-yaml) takes more plain scalars for non-strings than PyYAML's resolver
# knows: y/n are booleans, 1e3 and 0.1e5 numbers; the pod is then refused ("cannot unmarshal
# bool into ... of type string"). Anything that could read as a bool, null or number is quoted.
_AMBIGUOUS = re.compile(r"[-+.]?[0-9.]|(?i:y|n|yes|no|on|off|true|false|null|~|[-+]?\.(?:inf|nan))\Z")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(mark in value for mark in _LINE_BREAKS) or _AMBIGUOUS.match(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def to_yaml(docs: list[dict]) -> str:
    """Documents as one multi-document YAML text (each starts with ``---``)."""
    return yaml.dump_all(
        docs, Dumper=_ManifestDumper, allow_unicode=True, sort_keys=False, explicit_start=True
    )


def to_wire(docs: list[dict]) -> bytes:
    """Documents as ``kubectl apply -f -`` reads them: one compact JSON object per line (kubectl
    decodes input that opens with ``{`` as a stream of JSON values).

    JSON, not YAML: PyYAML's emitter costs ~20 ms per pod, json ~0.1 ms, and JSON has no plain
    scalars to misread (``yes``, ``1e3``, U+0085). UTF-8, not ``\\u`` escapes: a character beyond
    U+FFFF stays one character, not a surrogate pair for some reader to split."""
    return b"\n".join(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                      for doc in docs) + b"\n"
