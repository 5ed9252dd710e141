"""kubectl on the master, over the persistent SSH shell.

Every command line is built from argv pieces with ``shlex.quote``; manifests and exec input travel
as stdin data, never spliced into a command. A non-zero exit raises ``KubectlError`` carrying
kubectl's stderr and exit code (``NotFound`` when the API server said so).
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Iterable, Protocol


from island_ssh.core.settings import KubeSettings
from island_ssh.core.errors import KubectlError, NotFound
from island_ssh.core.manifests import to_wire
from island_ssh.core.names import MANAGED_SELECTOR


class Shell(Protocol):
    """What kube needs of island_ssh.ssh.RemoteShell (tests may pass another runner)."""

    def run(self, command: str, stdin: bytes | str | None = None, timeout: float = 30.0) -> Any: ...

    def stream(self, command: str) -> Any: ...


class Kubectl:
    def __init__(self, shell: Shell, settings: KubeSettings | None = None) -> None:
        self.shell = shell
        self.settings = settings or KubeSettings()

    # -- command building -------------------------------------------------------------------
    def command(self, *args: str, namespaced: bool = True, request_timeout: bool = True) -> str:
        argv = [self.settings.kubectl]
        if namespaced:
            argv += ["--namespace", self.settings.namespace]
        if request_timeout:
            argv += ["--request-timeout", self.settings.request_timeout]
        argv += list(args)
        return shlex.join(argv)

    def run(self, *args: str, stdin: bytes | str | None = None, timeout: float = 30.0,
            namespaced: bool = True, island_id: int | None = None) -> str:
        cmd = self.command(*args, namespaced=namespaced)
        result = self.shell.run(cmd, stdin=_as_bytes(stdin), timeout=timeout)
        if result.exit_code != 0:
            raise kubectl_error(cmd, result.exit_code, result.stderr, island_id)
        return result.stdout

    # -- verbs ------------------------------------------------------------------------------
    def apply(self, docs: Iterable[dict] | str, timeout: float = 60.0) -> list[str]:
        """Apply one or many manifests in ONE kubectl call; returns the applied object names."""
        wire = docs.encode("utf-8") if isinstance(docs, str) else to_wire(list(docs))
        out = self.run("apply", "-f", "-", "-o", "name", stdin=wire, timeout=timeout)
        return [line.strip() for line in out.splitlines() if line.strip()]

    def delete_pod(self, name: str, grace_period: int | None = None, force: bool = False,
                   wait: bool = False, timeout: float = 60.0) -> bool:
        """Delete a pod; False when it was already gone (NotFound counts as done)."""
        grace = self.settings.delete_grace_period if grace_period is None else grace_period
        args = ["delete", "pod", name, f"--grace-period={grace}", f"--wait={'true' if wait else 'false'}",
                "--ignore-not-found=false"]
        if force:
            args.append("--force")
        try:
            self.run(*args, timeout=timeout)
        except NotFound:
            return False
        return True

    def pods(self, selector: str = MANAGED_SELECTOR, timeout: float = 60.0) -> dict:
        """The PodList as JSON (items plus metadata.resourceVersion)."""
        return json.loads(self.run("get", "pods", "-l", selector, "-o", "json", timeout=timeout))

    def pod(self, name: str) -> dict | None:
        try:
            return json.loads(self.run("get", "pod", name, "-o", "json"))
        except NotFound:
            return None

    def nodes(self) -> list[dict]:
        return json.loads(self.run("get", "nodes", "-o", "json", namespaced=False))["items"]

    def exec(self, pod: str, container: str, argv: list[str], stdin: bytes | str | None = None,
             timeout: float = 30.0, island_id: int | None = None):
        """Run argv in a container; returns the CommandResult (its exit code is the remote one)."""
        args = ["exec"] + (["-i"] if stdin is not None else []) + [pod, "-c", container, "--"] + list(argv)
        cmd = self.command(*args)
        result = self.shell.run(cmd, stdin=_as_bytes(stdin), timeout=timeout)
        # kubectl exits with the remote command's code; its own failures print "Error from server"
        if result.exit_code != 0 and _is_kubectl_failure(result.stderr):
            raise kubectl_error(cmd, result.exit_code, result.stderr, island_id)
        return result

    def logs(self, pod: str, container: str, tail: int | None = None, timeout: float = 30.0) -> str:
        args = ["logs", pod, "-c", container]
        if tail is not None:
            args.append(f"--tail={int(tail)}")
        return self.run(*args, timeout=timeout)

    def watch_command(self, selector: str = MANAGED_SELECTOR) -> str:
        # no --request-timeout: the watch is long-lived; the API server ends it and we restart
        return self.command("get", "pods", "-l", selector, "-w", "--output-watch-events", "-o", "json",
                            request_timeout=False)

    def watch_pods(self, selector: str = MANAGED_SELECTOR):
        """A stream of one JSON watch event per line (island_ssh.core.watch_events.parse_watch_line)."""
        return self.shell.stream(self.watch_command(selector))


def _as_bytes(stdin: bytes | str | None) -> bytes | None:
    """Text goes to the master as UTF-8 (owners are Chinese names); bytes as they are."""
    return stdin.encode("utf-8") if isinstance(stdin, str) else stdin


def _is_kubectl_failure(stderr: str) -> bool:
    return stderr.startswith("Error from server") or stderr.startswith("error:") or "\nerror:" in stderr


def kubectl_error(cmd: str, exit_code: int, stderr: str, island_id: int | None = None) -> KubectlError:
    lines = [line for line in stderr.splitlines() if line.strip()]
    # kubectl prints warnings first ("Warning: Immediate deletion ..."): the error is the line that says so
    first = next((line for line in lines if line.lower().startswith(("error", "unable", "the "))),
                 lines[0] if lines else f"kubectl exited {exit_code}")
    cls = NotFound if "(NotFound)" in stderr or "not found" in first.lower() and "error from server" in first.lower() else KubectlError
    return cls(f"kubectl failed (exit {exit_code}): {first}", stderr=stderr, command=cmd,
               exit_code=exit_code, island_id=island_id)
