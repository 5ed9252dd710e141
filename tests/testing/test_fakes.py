"""The maintained fakes of island_ssh.testing.fakes: they keep the real classes' signatures, and
they record and answer as the tests that use them rely on."""

from __future__ import annotations

import inspect
import json

import pytest

from island_ssh.core.errors import ConnectionLost, KubectlError, NotFound
from island_ssh.core.settings import KubeSettings
from island_ssh.kube.kubectl import Kubectl
from island_ssh.ssh import RemoteShell, Stream, StreamTimeout
from island_ssh.testing.fakes import FakeKubectl, FakeShell, FakeStream, ManualClock, UnexpectedCommand, result

VERBS_THE_USE_CASES_CALL = ("apply", "delete_pod", "pods", "pod", "nodes", "exec", "logs", "watch_pods")


def public_methods(cls) -> dict:
    return {name: member for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")}


def pod(name: str, island_id: int, **labels) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "island-ssh",
                                                  "island-ssh/id": str(island_id), **labels}},
            "spec": {"containers": [{"name": "altraserver", "image": "x"}]}}


# -- the signatures ---------------------------------------------------------------------------------
def test_fake_kubectl_verbs_have_the_real_signatures():
    overridden = public_methods(FakeKubectl).keys() & public_methods(Kubectl).keys()
    assert set(VERBS_THE_USE_CASES_CALL) <= overridden
    for name in overridden:
        assert inspect.signature(getattr(FakeKubectl, name)) == inspect.signature(getattr(Kubectl, name)), name


def test_fake_shell_and_stream_have_the_real_signatures():
    assert inspect.signature(FakeShell.run) == inspect.signature(RemoteShell.run)
    # kube.Shell's: the command, and keywords only (whose work it is, the stream's bounds)
    assert list(inspect.signature(FakeShell.stream).parameters) == ["self", "command", "purpose", "max_line",
                                                                    "max_buffered"]
    for name in ("get_line", "lines_ready", "wait", "close"):
        assert inspect.signature(getattr(FakeStream, name)) == inspect.signature(getattr(Stream, name)), name
    assert isinstance(inspect.getattr_static(FakeStream, "stderr"), property)


# -- FakeShell ----------------------------------------------------------------------------------------
def test_fake_shell_records_commands_and_answers_with_the_newest_matching_rule():
    shell = FakeShell({"get nodes": result('{"items": []}')})
    kubectl = Kubectl(shell)
    assert kubectl.nodes() == []
    shell.on("get nodes", result(stderr="Error from server (Forbidden): nodes is forbidden", exit_code=1))
    with pytest.raises(KubectlError, match="Forbidden"):
        kubectl.nodes()
    assert shell.commands == [kubectl.command("get", "nodes", "-o", "json", namespaced=False)] * 2


def test_fake_shell_passes_stdin_and_timeout_through_and_raises_configured_errors():
    shell = FakeShell({"apply": result("pod/a\npod/b\n"), "delete": ConnectionLost("the master went away")})
    kubectl = Kubectl(shell, KubeSettings(server_side_apply="true"))  # auto would ask `kubectl version` first
    assert kubectl.apply("kind: Pod\n", timeout=7.5) == ["pod/a", "pod/b"]
    assert shell.calls[0].stdin == "kind: Pod\n".encode() and shell.calls[0].timeout == 7.5
    with pytest.raises(ConnectionLost):
        kubectl.delete_pod("a")
    with pytest.raises(UnexpectedCommand, match="get pod b"):
        kubectl.pod("b")
    assert len(shell.calls) == 3


def test_fake_shell_with_a_callable_answers_everything_and_not_found_reads_as_kubectl_says():
    shell = FakeShell(lambda call: result(stderr='Error from server (NotFound): pods "ghost" not found', exit_code=1))
    assert Kubectl(shell).pod("ghost") is None
    assert Kubectl(shell).delete_pod("ghost") is False


def test_fake_shell_streams_are_handed_out_in_order_and_recorded():
    shell = FakeShell()
    scripted = shell.script_stream(FakeStream(lines=["one"]).end(0))
    first, second = Kubectl(shell).watch_pods(), Kubectl(shell).watch_pods()
    assert first is scripted and first.get_line(1) == "one" and first.get_line(1) is None
    assert "-w" in second.command and shell.streams == [first, second]
    with pytest.raises(StreamTimeout):
        second.get_line(60)  # a fake never waits: nothing queued is a timeout at once


# -- FakeStream -----------------------------------------------------------------------------------------
def test_fake_stream_gives_lines_then_its_end_or_its_error():
    stream = FakeStream("cmd", ["a"]).push("b", "c")
    assert stream.get_line(0) == "a" and stream.lines_ready(5) == ["b", "c"]
    with pytest.raises(StreamTimeout):
        stream.wait(0)
    lost = ConnectionLost("cut")
    stream.push("d").end(error=lost)
    assert stream.get_line(0) == "d"
    with pytest.raises(ConnectionLost):
        stream.get_line(0)
    assert stream.reads == 3
    with pytest.raises(AssertionError):
        stream.push("after the end")
    closed = FakeStream("cmd")
    closed.close()
    closed.push("lost")  # what arrives after its reader closed it is dropped, as on a real stream
    assert closed.get_line(0) is None and closed.exit_code is None


# -- FakeKubectl ----------------------------------------------------------------------------------------
def test_fake_kubectl_keeps_applied_pods_and_tells_its_watches():
    kubectl = FakeKubectl()
    kubectl.apply([pod("island-1", 1)])
    watch = kubectl.watch_pods()
    added = json.loads(watch.get_line(0))
    assert added["type"] == "ADDED" and added["object"]["status"] == {"phase": "Pending"}
    running = kubectl.pod("island-1")
    running["status"] = {"phase": "Running"}
    kubectl.set_pod(running)
    kubectl.apply([pod("other", 2, app="not-ours")])
    assert kubectl.delete_pod("island-1") is True and kubectl.delete_pod("island-1") is False
    events = [json.loads(line) for line in watch.lines_ready(10)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "island-1"), ("ADDED", "other"), ("DELETED", "island-1")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in [added] + events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert [p["metadata"]["name"] for p in kubectl.pods("app=not-ours")["items"]] == ["other"]
    assert kubectl.pods("island-ssh/id=1")["items"] == []
    assert kubectl.verbs == ["apply", "watch_pods", "pod", "apply", "delete_pod", "delete_pod", "pods", "pods"]


def test_fake_kubectl_applies_yaml_text_and_lists_nodes():
    kubectl = FakeKubectl(nodes=[{"metadata": {"name": "node-1"}}])
    assert kubectl.apply("kind: Pod\nmetadata:\n  name: from-yaml\n---\n") == ["pod/from-yaml"]
    assert kubectl.pod("from-yaml")["metadata"]["namespace"] == "default"
    assert [n["metadata"]["name"] for n in kubectl.nodes()] == ["node-1"]


def test_fake_kubectl_raises_configured_errors_and_changes_nothing():
    kubectl = FakeKubectl()
    kubectl.fail("apply", KubectlError("admission webhook denied the pod"))
    with pytest.raises(KubectlError, match="denied"):
        kubectl.apply([pod("island-3", 3)])
    assert kubectl.pods()["items"] == []
    assert kubectl.apply([pod("island-3", 3)]) == ["pod/island-3"]  # only the next call failed


def test_fake_kubectl_exec_and_logs_answer_for_pods_that_exist():
    kubectl = FakeKubectl()
    with pytest.raises(NotFound):
        kubectl.exec("absent", "altraserver", ["true"], island_id=4)
    with pytest.raises(NotFound):
        kubectl.logs("absent", "altraserver")
    kubectl.apply([pod("island-4", 4)])
    kubectl.exec_answer = lambda name, container, argv, stdin: result(stdout=f"{name} {container} {argv} {stdin!r}")
    assert kubectl.exec("island-4", "altraserver", ["cat"], stdin=b"x").stdout == "island-4 altraserver ['cat'] b'x'"
    kubectl.log_text["island-4"] = "one\ntwo\nthree\n"
    assert kubectl.logs("island-4", "altraserver", tail=2) == "two\nthree\n"
    assert kubectl.calls[-1].kwargs == {"tail": 2, "timeout": 30.0, "limit_bytes": None}
    assert kubectl.logs("island-4", "altraserver", limit_bytes=5) == "one\nt"  # as --limit-bytes


def test_fake_kubectl_runs_other_commands_through_its_fake_shell():
    kubectl = FakeKubectl()
    kubectl.shell.on("get pvc", result('{"status": {"phase": "Bound"}}'))
    assert json.loads(kubectl.run("get", "pvc", "code", "-o", "json"))["status"]["phase"] == "Bound"
    with pytest.raises(UnexpectedCommand):
        kubectl.run("auth", "can-i", "create", "pods")


def test_a_scripted_watch_gives_exactly_its_lines():
    kubectl = FakeKubectl()
    kubectl.apply([pod("island-5", 5)])
    kubectl.script_watch(["line"])
    watch = kubectl.watch_pods()
    assert watch.get_line(0) == "line" and watch.get_line(0) is None
    assert kubectl.watch_streams == []


# -- ManualClock ------------------------------------------------------------------------------------------
def test_manual_clock_moves_only_when_told():
    clock = ManualClock(100.0)
    assert clock() == clock() == 100.0
    clock.advance(5)
    clock.sleep(1)
    assert clock() == 106.0
    stepping = ManualClock(0.0, step=2.0)
    assert [stepping(), stepping(), stepping()] == [0.0, 2.0, 4.0]
