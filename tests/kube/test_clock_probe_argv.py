"""ClockProbe's exec, without a cluster: what it hands kubectl (argv as data, the script on stdin)
and how it answers an exec that printed nothing of ours. The real runs: tests/kube/test_clock_probe.py."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from island_ssh.core.errors import UnreadableOutput
from island_ssh.kube.clock_probe import ClockProbe, clock_script


@dataclass
class Result:
    stdout: str
    stderr: str = ""
    exit_code: int = 0


class RecordingKubectl:
    def __init__(self, result):
        self.result, self.calls = result, []

    def exec(self, pod, container, argv, **kw):
        self.calls.append((pod, container, argv, kw))
        return self.result


def test_the_script_goes_on_stdin_and_every_value_is_its_own_argument():
    kubectl = RecordingKubectl(Result("", "sh: not found", 127))
    probe = ClockProbe(kubectl, "/tmp/a b;$(id)")
    with pytest.raises(UnreadableOutput, match="exited 127"):
        probe.write("pod-1", 1, "offset +1 1")
    pod, container, argv, kw = kubectl.calls[0]
    assert (pod, container) == ("pod-1", "altraserver")
    assert argv == ["env", "-u", "LD_PRELOAD", "sh", "-s", "--", "write", "/tmp/a b;$(id)", "offset +1 1"]
    assert kw["stdin"] == clock_script() and "--island-" in kw["stdin"] and kw["island_id"] == 1


def test_a_refusal_is_parsed_not_reported_as_a_crash():
    from island_ssh.core.errors import ClockFileUnwritable
    kubectl = RecordingKubectl(Result("--island-clock-v1--\npid=1\nerror=unwritable Read-only file system\n", "", 12))
    with pytest.raises(ClockFileUnwritable, match="Read-only"):
        ClockProbe(kubectl, "/tmp/c.rc").write("p", 3, "offset +1 1")
