"""``pods/NAME/exec`` over a websocket, as kubectl >= 1.30 speaks it (channel.k8s.io protocols).

Every binary frame starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (a Status
JSON that carries the exit code), 255 close (v5: ``[255, 0]`` closes stdin). The kubelet's exec
is not streaming, so stdin is gathered until it is closed, then the command runs and its output
is sent whole. A terminal (``-t``) is not offered.
"""

from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable

import aiohttp
import aiohttp.web

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255
STDIN_IDLE_TIMEOUT = 300.0  # seconds a client may keep stdin open without sending anything

Runner = Callable[[bytes | None], Awaitable[tuple[int, bytes, bytes]]]


def exit_status(argv: list[str], code: int) -> dict:
    """What the kubelet writes on the error channel (kubectl exits with ``code``)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(argv)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure_status(message: str) -> dict:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
            "details": {"causes": [{"message": message}]}, "code": 500}


async def _gather_stdin(ws: aiohttp.web.WebSocketResponse) -> bytes:
    chunks: list[bytes] = []
    while True:
        async with asyncio.timeout(STDIN_IDLE_TIMEOUT):  # not wait_for, which can swallow a cancel on 3.11
            msg = await ws.receive()
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.ERROR):
            break
        data = msg.data if msg.type == aiohttp.WSMsgType.BINARY else str(msg.data).encode()
        if not data:
            continue
        if data[0] == STDIN:
            chunks.append(data[1:])
        elif data[0] == CLOSE and data[1:2] == bytes([STDIN]):
            break
    return b"".join(chunks)


async def serve_exec(raw_request: aiohttp.web.BaseRequest, argv: list[str], want_stdin: bool,
                     want_stdout: bool, want_stderr: bool, run: Runner) -> aiohttp.web.WebSocketResponse:
    ws = aiohttp.web.WebSocketResponse(protocols=PROTOCOLS, autoping=True, heartbeat=None)
    await ws.prepare(raw_request)
    try:
        # Real servers send one empty frame on the lowest output channel once streams are set up.
        await ws.send_bytes(bytes([STDOUT if want_stdout else STDERR if want_stderr else ERROR]))
        stdin = await _gather_stdin(ws) if want_stdin else None
        try:
            code, out, err = await run(stdin)
            status = exit_status(argv, code)
        except Exception as e:  # the kubelet's declared errors (pod not running, no such container)
            code, out, err, status = 1, b"", b"", failure_status(str(e) or type(e).__name__)
        if want_stdout and out:
            await ws.send_bytes(bytes([STDOUT]) + out)
        if want_stderr and err:
            await ws.send_bytes(bytes([STDERR]) + err)
        await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
    except (ConnectionError, asyncio.TimeoutError):
        pass
    finally:
        await ws.close()
    return ws
