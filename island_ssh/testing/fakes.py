"""Maintained fakes of the cluster side, for tests that need no real master: a ``FakeShell``
behind the ``island_ssh.kube.Shell`` protocol, a ``FakeKubectl`` keeping pods in memory behind
the real Kubectl verbs, the ``FakeStream`` both hand out for watches, and a ``ManualClock``.

Why fakes and not ``None`` or mocks: a test that passes ``kubectl=None`` crashes with an
AttributeError if the code under test reaches the cluster after all, and says nothing about
what it sent; these record every command and call, so a test asserts what reached the cluster
(or that nothing did). They follow the real classes' signatures (tests/testing/test_fakes.py
checks that with ``inspect.signature``), so a change there breaks the fakes' test, not every test.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Union

import yaml

from island_ssh.core.names import GENERATION_LABEL, ID_LABEL, MANAGED_SELECTOR, SERVICE_WORK
from island_ssh.core.settings import KubeSettings
from island_ssh.kube.kubectl import Kubectl, kubectl_error
from island_ssh.ssh import CommandResult, StreamTimeout


def result(stdout: str | bytes = "", stderr: str | bytes = "", exit_code: int = 0, command: str = "") -> CommandResult:
    """A CommandResult from text (UTF-8) or bytes, as a canned answer."""
    def raw(value):
        return value.encode("utf-8") if isinstance(value, str) else value
    return CommandResult(exit_code, raw(stdout), raw(stderr), command)


class UnexpectedCommand(AssertionError):
    """The code under test ran a command the test gave no answer for."""


@dataclass(frozen=True)
class ShellCall:
    command: str
    stdin: bytes | None
    timeout: float
    purpose: str = SERVICE_WORK
    """Whose work the command is (core.names): SERVICE_WORK or USER_READ."""


Answer = Union[CommandResult, BaseException, Callable[[ShellCall], CommandResult]]


class ManualClock:
    """A clock a test moves by hand: ``advance`` it, or let every reading move it by ``step``.
    Pass it where a class takes ``clock``/``wall_clock``; ``sleep`` suits a ``pause`` argument."""

    def __init__(self, now: float = 0.0, step: float = 0.0) -> None:
        self.now = now
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            value = self.now
            self.now += self.step
            return value

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class FakeStream:
    """A ``Stream`` (island_ssh.ssh) whose lines the test hands in with ``push`` and ``end``.

    It never waits: ``get_line`` raises StreamTimeout at once when no line is queued and the
    stream still runs, so a loop over it turns as fast as it is driven and its idea of time is
    the clock the test gave it (see ManualClock)."""

    def __init__(self, command: str = "", lines: Iterable[str] = ()) -> None:
        self.command = command
        self.finished = threading.Event()
        self.exception: BaseException | None = None
        self.exit_code: int | None = None
        self.closed = False
        self.reads = 0
        """How many times get_line was called (a loop's turns)."""
        self._stderr = ""
        self._lines: deque[str] = deque(lines)
        self._lock = threading.Lock()

    def push(self, *lines: str) -> "FakeStream":
        with self._lock:
            if self.closed:
                return self  # its reader stopped it: what comes now is lost, as on a real stream
            if self.finished.is_set():
                raise AssertionError(f"stream `{self.command}` has ended; nothing more can arrive")
            self._lines.extend(lines)
        return self

    def end(self, exit_code: int = 0, error: BaseException | None = None, stderr: str = "") -> "FakeStream":
        """The command ends (after the lines already pushed); ``error`` ends it as a lost
        connection does (get_line raises it once the lines are taken)."""
        with self._lock:
            self.exit_code, self.exception, self._stderr = exit_code, error, stderr
            self.finished.set()
        return self

    def get_line(self, timeout: float) -> str | None:
        with self._lock:
            self.reads += 1
            if self._lines:
                return self._lines.popleft()
            if self.finished.is_set():
                if self.exception is not None:
                    raise self.exception
                return None
        raise StreamTimeout(f"no line from `{self.command}` queued; it is still running")

    def lines_ready(self, limit: int) -> list[str]:
        with self._lock:
            return [self._lines.popleft() for _ in range(min(limit, len(self._lines)))]

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.get_line(0)
            if line is None:
                return
            yield line

    def wait(self, timeout: float) -> int | None:
        if not self.finished.is_set():
            raise StreamTimeout(f"`{self.command}` still running")
        if self.exception is not None:
            raise self.exception
        return self.exit_code

    @property
    def stderr(self) -> str:
        return self._stderr

    def close(self, timeout: float = 5.0) -> None:
        """As Stream.close: the command is stopped; exit_code stays None if it had not ended."""
        with self._lock:
            self.closed = True
            self.finished.set()

    def __enter__(self) -> "FakeStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FakeShell:
    """Stands in for ``RemoteShell`` behind ``kube.Shell``: records each command, its stdin and
    timeout in ``calls``, and answers from rules the test gives.

    A rule maps a fragment of the command line to an answer: a CommandResult, an exception to
    raise (ConnectionLost, CommandTimeout...) or a callable taking the ShellCall. The newest
    rule whose fragment occurs in the command wins; ``FakeShell(answer)`` with a bare callable
    answers everything. A command no rule matches raises UnexpectedCommand."""

    def __init__(self, answers: Mapping[str, Answer] | Callable[[ShellCall], CommandResult] | None = None) -> None:
        self.calls: list[ShellCall] = []
        self.streams: list[FakeStream] = []
        """Every stream handed out, in order (the test pushes lines into them)."""
        self.closed = False
        self._rules: list[tuple[str, Answer]] = []
        self._scripted: deque[FakeStream] = deque()
        self._lock = threading.Lock()
        if callable(answers):
            self.on("", answers)
        else:
            for fragment, answer in (answers or {}).items():
                self.on(fragment, answer)

    @property
    def commands(self) -> list[str]:
        return [call.command for call in self.calls]

    def on(self, fragment: str, answer: Answer) -> "FakeShell":
        """Answer commands containing ``fragment`` (every command for "") with ``answer``."""
        with self._lock:
            self._rules.append((fragment, answer))
        return self

    def script_stream(self, stream: FakeStream) -> FakeStream:
        """Hand ``stream`` to the next stream() call (else a new, silent, running one)."""
        with self._lock:
            self._scripted.append(stream)
        return stream

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 30.0, *,
            purpose: str = SERVICE_WORK) -> CommandResult:
        call = ShellCall(command, stdin, timeout, purpose)
        with self._lock:
            self.calls.append(call)
            answer = next((a for fragment, a in reversed(self._rules) if fragment in command), None)
        if answer is None:
            raise UnexpectedCommand(f"no canned answer for `{command}`")
        if isinstance(answer, BaseException):
            raise answer
        return answer if isinstance(answer, CommandResult) else answer(call)

    def stream(self, command: str, *, purpose: str = SERVICE_WORK, max_line: int | None = None,
               max_buffered: int | None = None) -> FakeStream:
        with self._lock:
            stream = self._scripted.popleft() if self._scripted else FakeStream()
            stream.command = command
            self.streams.append(stream)
        return stream

    def close(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class KubectlCall:
    verb: str
    args: tuple
    kwargs: dict


class FakeKubectl(Kubectl):
    """The Kubectl verbs over an in-memory set of pods: apply stores them (phase Pending),
    delete_pod removes them, pods/pod/nodes list them, exec and logs answer what the test set,
    and every open watch gets the ADDED/MODIFIED/DELETED lines the API server would send.

    Every verb call is recorded in ``calls``; ``fail(verb, error)`` makes the next call raise.
    ``command``/``run`` and ``shell`` are the real ones over a FakeShell, so a use case that
    runs a command of its own is answered by rules given to ``fake.shell``. Pods change state
    only when the test says so (``set_pod``): there is no scheduler or kubelet here."""

    def __init__(self, settings: KubeSettings | None = None, *, nodes: Iterable[dict] = (),
                 shell: FakeShell | None = None) -> None:
        super().__init__(shell or FakeShell(), settings)
        self.pods_by_name: dict[str, dict] = {}
        self.secrets_by_name: dict[str, dict] = {}
        self.node_list = [copy.deepcopy(n) for n in nodes]
        self.calls: list[KubectlCall] = []
        self.exec_answer: CommandResult | Callable[..., CommandResult] = result()
        self.log_text: dict[str, str] = {}
        """Pod name -> its server's log, for logs()."""
        self._watchers: list[tuple[FakeStream, str]] = []  # open watches and their selectors
        self._errors: dict[str, deque[BaseException]] = {}
        self._version = 1000
        self._lock = threading.RLock()

    # -- the test's side ------------------------------------------------------------------------
    @property
    def watch_streams(self) -> list[FakeStream]:
        """The watches still open, oldest first."""
        with self._lock:
            return [stream for stream, _ in self._watchers if not stream.finished.is_set()]

    @property
    def verbs(self) -> list[str]:
        return [call.verb for call in self.calls]

    def fail(self, verb: str, error: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``verb`` raise ``error`` (and change nothing)."""
        with self._lock:
            self._errors.setdefault(verb, deque()).extend([error] * times)

    def set_pod(self, pod: dict, event: str = "MODIFIED") -> dict:
        """Store ``pod`` as the API server now has it (a status the kubelet wrote, say) and
        tell the watches; its resourceVersion is the next one."""
        with self._lock:
            stored = self._stamp(copy.deepcopy(pod))
            self.pods_by_name[stored["metadata"]["name"]] = stored
            self._announce(event, stored)
            return copy.deepcopy(stored)

    def script_watch(self, lines: Iterable[str] = (), *, end: bool = True, exit_code: int = 0) -> FakeStream:
        """The next watch_pods() gets exactly these lines (and ends, unless ``end=False``)."""
        stream = FakeStream(lines=lines)
        if end:
            stream.end(exit_code)
        return self.shell.script_stream(stream)

    # -- the verbs (signatures as Kubectl's) ------------------------------------------------------
    def apply(self, docs: Iterable[dict] | str, timeout: float = 60.0) -> list[str]:
        parsed = [d for d in yaml.safe_load_all(docs) if d] if isinstance(docs, str) else list(docs)
        self._call("apply", parsed, timeout=timeout)
        names = []
        with self._lock:
            for doc in parsed:
                pod = copy.deepcopy(doc)
                name = pod["metadata"]["name"]
                kind = pod.get("kind", "Pod")
                names.append(f"{kind.lower()}/{name}")
                if kind == "Secret":
                    self.secrets_by_name[name] = pod  # the island's token Secret (core.token_secret)
                if kind != "Pod":
                    continue
                existed = name in self.pods_by_name
                pod.setdefault("status", {"phase": "Pending"})
                self.set_pod(pod, "MODIFIED" if existed else "ADDED")
        return names

    def delete_pod(self, name: str, grace_period: int | None = None, force: bool = False,
                   wait: bool = False, timeout: float = 60.0) -> bool:
        self._call("delete_pod", name, grace_period=grace_period, force=force, wait=wait, timeout=timeout)
        with self._lock:
            pod = self.pods_by_name.pop(name, None)
            if pod is None:
                return False
            self._announce("DELETED", self._stamp(pod))
            return True

    def delete_token_secret(self, island_id: int, generation: int | None = None, timeout: float = 60.0) -> bool:
        self._call("delete_token_secret", island_id, generation=generation, timeout=timeout)
        with self._lock:
            doomed = [n for n, sec in self.secrets_by_name.items()
                      if sec["metadata"]["labels"].get(ID_LABEL) == str(island_id)
                      and (generation is None or sec["metadata"]["labels"].get(GENERATION_LABEL) == str(generation))]
            for name in doomed:
                del self.secrets_by_name[name]
            return bool(doomed)

    def token_from_secret(self, island_id: int, timeout: float = 30.0) -> str | None:
        self._call("token_from_secret", island_id, timeout=timeout)
        with self._lock:
            for sec in self.secrets_by_name.values():
                if sec["metadata"]["labels"].get(ID_LABEL) == str(island_id):
                    return base64.b64decode(sec["data"]["token"]).decode()
            return None

    def token_secrets(self, timeout: float = 60.0) -> list[dict]:
        self._call("token_secrets", timeout=timeout)
        with self._lock:
            return [{"name": n, "island_id": sec["metadata"]["labels"].get(ID_LABEL),
                     "generation": sec["metadata"]["labels"].get(GENERATION_LABEL)}
                    for n, sec in self.secrets_by_name.items()]

    def pods(self, selector: str = MANAGED_SELECTOR, timeout: float = 60.0) -> dict:
        self._call("pods", selector=selector, timeout=timeout)
        with self._lock:
            items = [copy.deepcopy(p) for p in self.pods_by_name.values() if _matches(p, selector)]
            return {"apiVersion": "v1", "kind": "List", "items": items,
                    "metadata": {"resourceVersion": str(self._version)}}

    def pod(self, name: str) -> dict | None:
        self._call("pod", name)
        with self._lock:
            return copy.deepcopy(self.pods_by_name.get(name))

    def nodes(self) -> list[dict]:
        self._call("nodes")
        return copy.deepcopy(self.node_list)

    def exec(self, pod: str, container: str, argv: list[str], stdin: bytes | str | None = None,
             timeout: float = 30.0, island_id: int | None = None, purpose: str = SERVICE_WORK):
        self._call("exec", pod, container, list(argv), stdin=stdin, timeout=timeout, island_id=island_id)
        self._existing(pod, "exec", island_id)
        answer = self.exec_answer
        return answer if isinstance(answer, CommandResult) else answer(pod, container, list(argv), stdin)

    def logs(self, pod: str, container: str, tail: int | None = None, timeout: float = 30.0,
             limit_bytes: int | None = None) -> str:
        self._call("logs", pod, container, tail=tail, timeout=timeout, limit_bytes=limit_bytes)
        self._existing(pod, "logs")
        lines = self.log_text.get(pod, "").splitlines(keepends=True)
        text = "".join(lines[-tail:] if tail else lines)
        if limit_bytes is not None:  # as the API server: the first limit_bytes of those lines
            text = text.encode()[:limit_bytes].decode(errors="replace")
        return text

    def watch_pods(self, selector: str = MANAGED_SELECTOR):
        """As ``kubectl get pods -w --output-watch-events``: ADDED for every pod there is, then
        each change as it happens."""
        self._call("watch_pods", selector=selector)
        with self._lock:
            stream = self.shell.stream(self.watch_command(selector))
            if not stream.finished.is_set():
                stream.push(*(_event_line("ADDED", p) for p in self.pods_by_name.values() if _matches(p, selector)))
                self._watchers.append((stream, selector))
            return stream

    # -- inside ---------------------------------------------------------------------------------
    def _call(self, verb: str, *args, **kwargs) -> None:
        with self._lock:
            self.calls.append(KubectlCall(verb, args, kwargs))
            queued = self._errors.get(verb)
            error = queued.popleft() if queued else None
        if error is not None:
            raise error

    def _existing(self, name: str, verb: str, island_id: int | None = None) -> None:
        with self._lock:
            if name in self.pods_by_name:
                return
        raise kubectl_error(self.command(verb, name), 1, f'Error from server (NotFound): pods "{name}" not found',
                            island_id)

    def _stamp(self, pod: dict) -> dict:
        self._version += 1
        meta = pod.setdefault("metadata", {})
        meta.setdefault("namespace", self.settings.namespace)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = str(self._version)
        return pod

    def _announce(self, event: str, pod: dict) -> None:
        self._watchers = [(s, selector) for s, selector in self._watchers if not s.finished.is_set()]
        for stream, selector in self._watchers:
            if _matches(pod, selector):
                stream.push(_event_line(event, pod))


def _event_line(event: str, pod: dict) -> str:
    return json.dumps({"type": event, "object": pod}, ensure_ascii=False)


def _matches(pod: dict, selector: str) -> bool:
    """Equality (``k=v``) and existence (``k``) terms of a label selector, all of them."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!" in term or " " in term:
            raise NotImplementedError(f"FakeKubectl understands k=v and k selectors, not {term!r}")
        key, equals, value = term.partition("=")
        if key not in labels or (equals and labels[key] != value.lstrip("=")):  # k=v or k==v
            return False
    return True
