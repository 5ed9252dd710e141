"""The README's first command runs this: the demo must work on its embedded default and leave
nothing running."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from island_sandbox.manager import random_node_prefix

pytestmark = pytest.mark.slow


def test_demo_once_walks_two_islands_and_leaves_nothing_behind():
    state = Path(tempfile.mkdtemp(prefix="island-ssh-demo-", dir="/var/tmp"))
    os.chmod(state, 0o755)
    env = dict(os.environ, ISLAND_SSH_SANDBOX_STATE_DIR=str(state),
               ISLAND_SSH_SANDBOX_NODE_IP_PREFIX=random_node_prefix())
    cli = Path(sys.executable).with_name("island-ssh")
    proc = subprocess.run([str(cli), "demo", "--once"], env=env, capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "altraserver-liudianbo-dev-" in out
    assert out.count(": ready") >= 2
    assert re.search(r"island \d+: deleted", out)
    # island 1 started at the seed's 2021-09-18 23:30:07 and was shifted +2d
    assert '"now": "2021-09-20T23:3' in out
    addresses = re.findall(r"answers on (127\.\d+\.\d+\.\d+):(\d+)", out)
    assert len(addresses) == 2
    for host, port in addresses:
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=1).close()
