"""kubectl on the master, over the persistent SSH shell.

Every command line is built from argv pieces with ``shlex.quote``; manifests and exec input travel
as stdin data, never spliced into a command. A non-zero exit raises ``KubectlError`` carrying
kubectl's stderr and exit code (``NotFound`` when the API server said so).

Every verb states whose work it is (core.names): logs and follow_logs are users' reads and share
the few channels RemoteShell allows them; everything else is the service's own work, which always
finds a channel. ``run`` and ``exec`` take ``purpose`` for callers that read for a user.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Protocol


try:
    import orjson as _orjson  # a declared dependency; the stdlib parser is the same, only slower
except ImportError:  # pragma: no cover
    _orjson = None

from island_ssh.core import kubectl_versions as versions
from island_ssh.core.settings import KubeSettings
from island_ssh.core.errors import Forbidden, KubectlError, NotFound
from island_ssh.kube.rights import RBAC_FILE
from island_ssh.observe import metrics
from island_ssh.core.manifests import to_wire
from island_ssh.core.token_secret import TOKEN_KEY, token_secret_name
from island_ssh.core.names import GENERATION_LABEL, ID_LABEL, MANAGED_SELECTOR, SERVICE_WORK, USER_READ


DELETE_CHUNK = 5
"""Pods per `kubectl delete` of a bulk delete: one DELETE request each, well inside kubectl's own
burst of 10, so no request waits for its 5-a-second limiter."""
DELETE_AT_ONCE = 3
"""kubectl processes of one bulk delete running at once (each on its own channel of the pool)."""


class Shell(Protocol):
    """What kube needs of island_ssh.ssh.RemoteShell (tests may pass another runner)."""

    def run(self, command: str, stdin: bytes | str | None = None, timeout: float = 30.0, *,
            purpose: str = SERVICE_WORK) -> Any: ...

    def stream(self, command: str, *, purpose: str = SERVICE_WORK, max_line: int = ...,
               max_buffered: int | None = None) -> Any: ...


class Kubectl:
    def __init__(self, shell: Shell, settings: KubeSettings | None = None) -> None:
        self.shell = shell
        self.settings = settings or KubeSettings()
        self._client: versions.Capabilities | None = None
        self._server: versions.KubectlVersion | None = None
        self.commands: Counter[str] = Counter()
        """Remote commands sent through the shell, by kind (run, exec, script): what a batch costs."""
        self._count_lock = threading.Lock()

    def _count(self, kind: str) -> None:
        with self._count_lock:
            self.commands[kind] += 1

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
            namespaced: bool = True, island_id: int | None = None, purpose: str = SERVICE_WORK) -> str:
        cmd = self.command(*args, namespaced=namespaced)
        self._count("run")
        try:
            result = self.shell.run(cmd, stdin=_as_bytes(stdin), timeout=timeout, purpose=purpose)
        except Exception:
            metrics.kubectl_failed(args)  # the SSH connection failed under it
            raise
        if result.exit_code != 0:
            error = kubectl_error(cmd, result.exit_code, result.stderr, island_id)
            if not isinstance(error, NotFound):  # "not there" answers a question: not a failure
                metrics.kubectl_failed(args)
            raise error
        return result.stdout

    # -- the master's kubectl and API server versions (core.kubectl_versions) -------------------
    # Asked once per Kubectl, i.e. per SSH target: a master's kubectl changes with an upgrade,
    # which restarts island_ssh anyway. A race between threads only asks twice.
    def client(self) -> versions.Capabilities:
        """What the master's kubectl can do, from ``kubectl version --client -o json``."""
        if self._client is None:
            out = self.run("version", "--client", "-o", "json", namespaced=False)
            try:
                self._client = versions.capabilities(versions.parse_client_version(out))
            except versions.VersionParseError as exc:
                raise KubectlError(f"`{self.settings.kubectl} version --client -o json` on the master: {exc}; "
                                   f"is kube.kubectl a kubectl?", command="version") from None
        return self._client

    def server_version(self) -> versions.KubectlVersion | None:
        """The API server's version, None while it cannot be asked (asked again next time)."""
        if self._server is None:
            try:
                out = self.run("version", "-o", "json", namespaced=False)
            except KubectlError:
                return None
            self._server = versions.parse_server_version(out)
        return self._server

    def server_side_apply(self) -> bool:
        """Whether apply goes server-side (kube.server_side_apply, ``auto`` asks both versions)."""
        setting = self.settings.server_side_apply
        if setting in ("true", "false"):
            return setting == "true"
        client = self.client()
        return versions.use_server_side_apply(
            setting, client, self.server_version() if client.server_side_apply else None)

    # -- verbs ------------------------------------------------------------------------------
    def apply(self, docs: Iterable[dict] | str, timeout: float = 60.0) -> list[str]:
        """Apply one or many manifests in ONE kubectl call; returns the applied object names."""
        if not isinstance(docs, str):
            docs = list(docs)
            metrics.APPLY_BATCH_ISLANDS.observe(sum(1 for d in docs if isinstance(d, dict) and d.get("kind") == "Pod"))
        wire = docs.encode("utf-8") if isinstance(docs, str) else to_wire(docs)
        flags = versions.apply_flags(self.server_side_apply())
        out = self.run("apply", *flags, "-f", "-", "-o", "name", stdin=wire, timeout=timeout)
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

    def delete_pods(self, names: Iterable[str], grace_period: int | None = None, force: bool = False,
                    wait: bool = True, timeout: float = 120.0, at_once: int = DELETE_AT_ONCE,
                    poll: float = 0.5) -> dict[str, Exception]:
        """Delete many pods (gone ones are fine): ``DELETE_CHUNK`` names per kubectl, ``at_once``
        kubectl processes at a time on the pool's channels. kubectl limits its own requests to 5 a
        second after a burst of 10 (client-go's default; measured: one kubectl deleting 40 pods
        with --wait took 12 s, chunks of 5 three at a time 0.66 s). With ``wait`` the pods are
        then awaited together, one listing every ``poll`` seconds (kubectl's own --wait watches
        them one after another, each chunk sitting out its pods' grace period in turn).
        Every chunk runs; returns {pod: error} for the pods whose kubectl failed or that were
        still there after ``timeout`` (the caller retries or reports them)."""
        names = sorted({n for n in names if n})
        grace = self.settings.delete_grace_period if grace_period is None else grace_period
        flags = [f"--grace-period={grace}", "--wait=false", "--ignore-not-found=true"]
        if force:
            flags.append("--force")
        chunks = [names[i:i + DELETE_CHUNK] for i in range(0, len(names), DELETE_CHUNK)]

        def delete(chunk: list[str]) -> Exception | None:
            try:
                self.run("delete", "pod", *chunk, *flags, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - every chunk runs; the caller sees each failure
                return exc
            return None
        if len(chunks) <= 1 or at_once <= 1:
            errors = [delete(chunk) for chunk in chunks]
        else:
            with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="kubectl-delete") as pool:
                errors = list(pool.map(delete, chunks))
        failed: dict[str, Exception] = {name: error for chunk, error in zip(chunks, errors) if error is not None
                                        for name in chunk}
        left = set(names) - set(failed) if wait else set()
        deadline = time.monotonic() + timeout
        while left:
            left &= {p["metadata"]["name"] for p in self.pods(selector="").get("items") or ()}
            if left and time.monotonic() >= deadline:
                for name in left:
                    failed[name] = KubectlError(f"pod {name} was still there {timeout:.0f}s after its delete")
                break
            if left:
                time.sleep(poll)
        return failed

    def delete_token_secret(self, island_id: int, generation: int | None = None, timeout: float = 60.0) -> bool:
        """Delete the island's token Secret (core.token_secret); False when there was none.

        By label, not by name: with ``generation`` only that launch's Secret goes, so a sweep
        that raced a new launch of the same id cannot take the new launch's token away."""
        selector = f"{ID_LABEL}={int(island_id)},{MANAGED_SELECTOR}"
        if generation is not None:
            selector += f",{GENERATION_LABEL}={int(generation)}"
        out = self.run("delete", "secret", "-l", selector, "--ignore-not-found=true", "--wait=false",
                       "-o", "name", timeout=timeout, island_id=island_id)
        return any(line.strip() for line in out.splitlines())

    def token_from_secret(self, island_id: int, timeout: float = 30.0) -> str | None:
        """The token in the island's Secret (recover's adoption keeps it), or None: no such Secret,
        or not one of ours."""
        try:
            found = json_answer(self.run("get", "secret", token_secret_name(island_id), "-o", "json",
                                         timeout=timeout, island_id=island_id), "kubectl get secret")
        except NotFound:
            return None
        if ((found.get("metadata") or {}).get("labels") or {}).get(ID_LABEL) != str(island_id):
            return None
        try:
            token = base64.b64decode((found.get("data") or {}).get(TOKEN_KEY) or "", validate=True).decode("ascii")
        except (binascii.Error, ValueError):
            return None
        return token or None

    def token_secrets(self, timeout: float = 60.0) -> list[dict]:
        """Every token Secret island_ssh made, as ``{"name", "island_id", "generation"}`` (the token
        itself is dropped here: the recover sweep needs the labels only)."""
        selector = urllib.parse.quote(MANAGED_SELECTOR, safe="")
        found = self._list(f"{self._namespace_path()}/secrets?labelSelector={selector}", "secrets", timeout)
        out = []
        for item in found.get("items") or []:
            meta = item.get("metadata") or {}
            labels = meta.get("labels") or {}
            out.append({"name": meta.get("name", ""), "island_id": labels.get(ID_LABEL),
                        "generation": labels.get(GENERATION_LABEL)})
        return out

    def pods(self, selector: str = MANAGED_SELECTOR, timeout: float = 60.0) -> dict:
        """The PodList as the API server gives it (items plus metadata.resourceVersion, the list's
        own), each item with its kind and apiVersion as ``get -o json`` prints them.

        ``get --raw`` of the list path rather than ``get pods -o json``: kubectl then neither
        decodes the pods nor prints them again, indented, as a List (whose resourceVersion is
        empty): at 800 pods 0.4 s and 6.7 MB instead of 3 s and 14 MB (bench/recover.py)."""
        query = f"?labelSelector={urllib.parse.quote(selector, safe='')}" if selector else ""
        listing = self._list(f"{self._namespace_path()}/pods{query}", "pods", timeout)
        for item in listing.get("items") or ():
            if isinstance(item, dict):
                item.setdefault("apiVersion", "v1")
                item.setdefault("kind", "Pod")
        return listing

    def _namespace_path(self) -> str:
        return f"/api/v1/namespaces/{urllib.parse.quote(self.settings.namespace, safe='')}"

    def _list(self, path: str, what: str, timeout: float) -> dict:
        """One list straight from the API server (``kubectl get --raw``), parsed; KubectlError
        when the answer is not the list object."""
        out = self.run("get", "--raw", path, namespaced=False, timeout=timeout)
        listing = json_answer(out, f"kubectl get {what}")
        if not isinstance(listing, dict) or not isinstance(listing.get("items", []), (list, type(None))):
            raise KubectlError(f"kubectl get {what}: the master answered {_excerpt(out)}, not a list of {what}; "
                               f"is kube.kubectl a kubectl?", command=f"get --raw {path}")
        return listing

    def pod(self, name: str) -> dict | None:
        try:
            return json_answer(self.run("get", "pod", name, "-o", "json"), "kubectl get pod")
        except NotFound:
            return None

    def nodes(self) -> list[dict]:
        found = json_answer(self.run("get", "nodes", "-o", "json", namespaced=False), "kubectl get nodes")
        if not isinstance(found, dict) or not isinstance(found.get("items"), list):
            raise KubectlError("kubectl get nodes: the master's answer has no list of nodes; "
                               "is kube.kubectl a kubectl?", command="get nodes")
        return found["items"]

    def top_pods(self, namespace: str | None = None, selector: str = MANAGED_SELECTOR,
                 timeout: float = 30.0) -> dict | None:
        """Every matching pod's use in ONE call: the metrics.k8s.io PodMetricsList (core.usage parses it),
        or None when the cluster has no metrics API (no metrics-server: the group is missing, 404).

        ``kubectl get --raw`` rather than ``kubectl top pod``: exact quantities ("123456n",
        "53248Ki") with timestamp and window, no discovery round trips first, no column layout that
        changes between kubectl minors, and a plain 404 for a missing API (`top` says "Metrics API
        not available")."""
        ns = urllib.parse.quote(namespace or self.settings.namespace, safe="")
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods?labelSelector={urllib.parse.quote(selector, safe='')}"
        try:
            out = self.run("get", "--raw", path, namespaced=False, timeout=timeout)
        except NotFound:
            return None
        return json.loads(out)

    def exec(self, pod: str, container: str, argv: list[str], stdin: bytes | str | None = None,
             timeout: float = 30.0, island_id: int | None = None, purpose: str = SERVICE_WORK):
        """Run argv in a container; returns the CommandResult (its exit code is the remote one).
        ``purpose`` USER_READ for an exec that only reads for a user (it shares their channels)."""
        args = ["exec"] + (["-i"] if stdin is not None else []) + [pod, "-c", container, "--"] + list(argv)
        cmd = self.command(*args)
        self._count("exec")
        try:
            result = self.shell.run(cmd, stdin=_as_bytes(stdin), timeout=timeout, purpose=purpose)
        except Exception:
            metrics.kubectl_failed(["exec"])
            raise
        # kubectl exits with the remote command's code; its own failures print "Error from server"
        if result.exit_code != 0 and _is_kubectl_failure(result.stderr):
            metrics.kubectl_failed(["exec"])
            error = kubectl_error(cmd, result.exit_code, result.stderr, island_id)
            hint = (self._exec_hint(result.stderr) if "websocket" in result.stderr.lower() else None)
            if hint:  # an SPDY-only kubectl against a websocket-only API server (the sandbox)
                error = KubectlError(f"{error.message}; {hint}", stderr=result.stderr, command=cmd,
                                     exit_code=result.exit_code, island_id=island_id)
            raise error
        return result

    def script(self, text: str, timeout: float = 60.0, purpose: str = SERVICE_WORK):
        """Run a shell script built by a kube module (kube/idle_probe.py: many kubectl execs in ONE
        remote command) on the master; returns the CommandResult whatever its exit code. Every
        value in ``text`` must already be quoted by its builder."""
        self._count("script")
        return self.shell.run(text, timeout=timeout, purpose=purpose)

    def _exec_hint(self, stderr: str) -> str | None:
        try:
            return versions.exec_unsupported_hint(self.client(), stderr)
        except KubectlError:
            return None  # the exec's own error says enough

    def logs(self, pod: str, container: str, tail: int | None = None, timeout: float = 30.0,
             limit_bytes: int | None = None) -> str:
        """The log's last ``tail`` lines, at most ``limit_bytes`` of them (kubectl --limit-bytes:
        the API server stops reading there, so the start of those lines is what comes). A user's read."""
        args = ["logs", pod, "-c", container]
        if tail is not None:
            args.append(f"--tail={int(tail)}")
        if limit_bytes is not None:
            args.append(f"--limit-bytes={int(limit_bytes)}")
        return self.run(*args, timeout=timeout, purpose=USER_READ)

    def follow_logs(self, pod: str, container: str, tail: int, max_line: int, max_buffered: int):
        """``kubectl logs -f`` as a Stream of lines, a user's read: it holds one of their channels
        until it ends. A line over ``max_line`` bytes ends it (LineTooLong); past ``max_buffered``
        unread bytes it pauses the remote side rather than hold more."""
        # no --request-timeout: a followed log is long-lived; Ctrl-C (or the pod's end) stops it
        cmd = self.command("logs", "-f", pod, "-c", container, f"--tail={int(tail)}", request_timeout=False)
        return self.shell.stream(cmd, purpose=USER_READ, max_line=max_line, max_buffered=max_buffered)

    def watch_command(self, selector: str = MANAGED_SELECTOR) -> str:
        # --output-watch-events (kubectl 1.16+, versions.WATCH_EVENTS_SINCE) is in every supported
        # kubectl: no version to ask before the watch; doctor refuses an older one
        # no --request-timeout: the watch is long-lived; the API server ends it and we restart
        return self.command("get", "pods", "-l", selector, "-w", "--output-watch-events", "-o", "json",
                            request_timeout=False)

    def watch_pods(self, selector: str = MANAGED_SELECTOR):
        """A stream of one JSON watch event per line (island_ssh.core.watch_events.parse_watch_line)."""
        return self.shell.stream(self.watch_command(selector), purpose=SERVICE_WORK)


def json_answer(out: str | bytes, what: str) -> Any:
    """kubectl's JSON answer, parsed (orjson: a 5,000-pod list is tens of MB); a KubectlError
    naming the command and quoting the start of the answer when it is not JSON (a garbled or
    cut answer, a login banner, a wrapper script's own words)."""
    try:
        return _loads(out)
    except ValueError as exc:  # orjson.JSONDecodeError and json.JSONDecodeError are ValueErrors
        raise KubectlError(f"{what}: the master's answer is not JSON ({exc}); it began {_excerpt(out)}",
                           command=what) from None


def _loads(out: str | bytes) -> Any:
    return _orjson.loads(out) if _orjson is not None else json.loads(out)


def _excerpt(out: str | bytes) -> str:
    text = out.decode("utf-8", "replace") if isinstance(out, (bytes, bytearray)) else str(out)
    return repr(text[:80]) + ("..." if len(text) > 80 else "") if text.strip() else "empty"


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
    if "(Forbidden)" in stderr:
        return Forbidden(f"the master's Kubernetes user may not do this: {first}; grant the rights in "
                         f"{RBAC_FILE} (`island-ssh doctor` lists what is missing)", stderr=stderr, command=cmd,
                         exit_code=exit_code, island_id=island_id)
    cls = NotFound if "(NotFound)" in stderr or "not found" in first.lower() and "error from server" in first.lower() else KubectlError
    return cls(f"kubectl failed (exit {exit_code}): {first}", stderr=stderr, command=cmd,
               exit_code=exit_code, island_id=island_id)
