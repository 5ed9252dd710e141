"""Stand-in for the Java game server: listens on an island's ports and tells the time it sees.

    python -m island_sandbox.island_server [ISLAND_ID [DEBUG_FLAG [SERVER_ID]]]
        [--ports P1 P2 P3] [--host ADDR] [--island ID]

Every port answers one-line queries, one reply line each, on a connection kept open:

    time        -> {"now": "2021-09-18T23:30:09", "epoch": 1631979009.2, "port": 30809, "island": "269"}
    ping        -> {"pong": true, ...}
    crash N     -> exits at once with status N (after the reply)
    exit        -> exits cleanly (status 0)
    eat N       -> allocates and touches N MiB, keeps it, then replies

The clock is the process's wall clock, so under libfaketime each island shows its own time.
At start the environment can ask for a failure: ISLAND_SERVER_FAIL = "crash:N" | "exit" |
"eat:N", after ISLAND_SERVER_FAIL_AFTER seconds (default 0); ISLAND_SERVER_LISTEN_AFTER delays
listening (readiness-timeout tests). Ports default to $ISLAND_PORTS, else 30000+3*id.., else
30807 30808 30809; the address to --host, $SANDBOX_POD_IP, $NODE_IP, 0.0.0.0. SIGTERM exits
with 143, as a JVM does. It never calls time.sleep (it raises under libfaketime with
FAKETIME_DONT_FAKE_MONOTONIC=1): all waiting is in select().
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time

# Every pod of a burst starts one of these on the same cores as everything else, so it starts
# light: standard library only, nothing imported that a plain start does not use (argparse only
# for options, json at the first query; no dataclasses, typing or datetime), and start.sh runs it
# as `python -I -S island_server.py` (no site, no editable-install finder). Measured on the
# 2 cores: 69 ms of CPU per start before, see docs/benchmarks.md "REST burst".

DEFAULT_PORTS = (30807, 30808, 30809)
MAX_LINE = 4096
CHUNK = 16 << 20


class ServerSettings:
    """What the server listens on and which failure it takes (immutable, compared by value)."""

    __slots__ = ("ports", "host", "island", "fail", "fail_after", "listen_after")

    def __init__(self, ports: tuple[int, ...], host: str, island: str, fail: str = "",
                 fail_after: float = 0.0, listen_after: float = 0.0) -> None:
        for name, value in (("ports", tuple(ports)), ("host", host), ("island", island), ("fail", fail),
                            ("fail_after", fail_after), ("listen_after", listen_after)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("ServerSettings is immutable")

    def _key(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other) -> bool:
        return isinstance(other, ServerSettings) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "ServerSettings(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"


def _now_iso() -> str:
    """The wall clock (libfaketime's, under it) as datetime.now().isoformat(timespec="seconds")."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())


class ServerExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Args:
    island_id = debug_flag = server_id = ports = host = island = None


def _parse_args(argv: list[str]) -> _Args:
    """start.sh's plain `ID DEBUG_FLAG SERVER_ID` without argparse (a burst starts hundreds of
    these); anything with an option, or more than three words, goes through argparse."""
    if len(argv) <= 3 and not any(a.startswith("-") for a in argv):
        args = _Args()
        args.island_id, args.debug_flag, args.server_id = (list(argv) + [None] * 3)[:3]
        return args
    import argparse

    parser = argparse.ArgumentParser(prog="island_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("island_id", nargs="?", help="island id (start.sh passes ID DEBUG_FLAG SERVER_ID)")
    parser.add_argument("debug_flag", nargs="?")
    parser.add_argument("server_id", nargs="?")
    parser.add_argument("--ports", nargs="+", type=int, help="ports to listen on")
    parser.add_argument("--host", help="address to bind")
    parser.add_argument("--island", help="island id reported in replies")
    return parser.parse_args(argv)


def parse_settings(argv: list[str], environ) -> ServerSettings:
    args = _parse_args(argv)
    island = args.island or args.island_id or environ.get("ISLAND_ID") or ""
    if args.ports:
        ports = tuple(args.ports)
    elif environ.get("ISLAND_PORTS", "").split():
        ports = tuple(int(p) for p in environ["ISLAND_PORTS"].split())
    elif island.isdigit():
        ports = tuple(30000 + 3 * int(island) + i for i in range(3))
    else:
        ports = DEFAULT_PORTS
    if not island:
        island = str((ports[0] - 30000) // 3)
    host = args.host or environ.get("SANDBOX_POD_IP") or environ.get("NODE_IP") or "0.0.0.0"
    return ServerSettings(ports=ports, host=host, island=island,
                          fail=environ.get("ISLAND_SERVER_FAIL", "").strip(),
                          fail_after=float(environ.get("ISLAND_SERVER_FAIL_AFTER") or 0),
                          listen_after=float(environ.get("ISLAND_SERVER_LISTEN_AFTER") or 0))


class IslandServer:
    def __init__(self, settings: ServerSettings, out=None) -> None:
        self.settings = settings
        self.out = sys.stdout if out is None else out
        self.selector = selectors.DefaultSelector()
        self.listeners: list[socket.socket] = []
        self.eaten: list[bytes] = []

    def say(self, text: str) -> None:
        self.out.write(f"island-server[{self.settings.island}]: {text}\n")
        self.out.flush()

    # -- queries -------------------------------------------------------------------------------
    def now_reply(self, port: int) -> dict:
        return {"now": _now_iso(), "epoch": round(time.time(), 3),
                "port": port, "island": self.settings.island}

    def eat(self, mib: int) -> None:
        left = max(0, mib) << 20
        while left > 0:
            size = min(CHUNK, left)
            self.eaten.append(b"\x01" * size)  # written, so it is resident, not just reserved
            left -= size

    def held_mib(self) -> int:
        return sum(len(chunk) for chunk in self.eaten) >> 20

    def act(self, command: str) -> None:
        """A failure mode, from a query or from ISLAND_SERVER_FAIL ("crash:3", "exit", "eat:100")."""
        verb, _, arg = command.replace(":", " ").partition(" ")
        if verb == "crash":
            self.say(f"crashing with exit code {int(arg or 1)}")
            raise ServerExit(int(arg or 1))
        if verb == "exit":
            self.say("exiting cleanly")
            raise ServerExit(0)
        if verb == "eat":
            self.say(f"eating {int(arg)} MiB")
            self.eat(int(arg))
            self.say(f"holding {self.held_mib()} MiB")
            return
        raise ValueError(f"unknown failure mode {command!r} (crash:N, exit, eat:MiB)")

    def answer(self, line: str, port: int) -> tuple[dict, str | None]:
        """The reply to one query line, and the failure to act on after sending it."""
        words = line.split()
        verb = words[0].lower() if words else ""
        if verb == "time":
            return self.now_reply(port), None
        if verb == "ping":
            return {"pong": True, **self.now_reply(port)}, None
        if verb in ("crash", "exit") and (verb == "exit" or (len(words) == 2 and words[1].isdigit())):
            return {"ok": line.strip(), **self.now_reply(port)}, line.strip()
        if verb == "eat" and len(words) == 2 and words[1].isdigit():
            self.act(line.strip())
            return {"ok": line.strip(), "holding_mib": self.held_mib(), "port": port}, None
        return {"error": f"unknown query {line.strip()!r}; try time, ping, crash N, exit, eat MiB"}, None

    # -- I/O loop ------------------------------------------------------------------------------
    def listen(self) -> None:
        for port in self.settings.ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.settings.host, port))
            sock.listen(64)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, ("listen", port, None))
            self.listeners.append(sock)
        ports = " ".join(str(p) for p in self.settings.ports)
        self.say(f"pid {os.getpid()} listening on {self.settings.host} ports {ports}; "
                 f"clock reads {_now_iso()}")

    def on_readable(self, sock: socket.socket, port: int, buffer: bytearray | None) -> None:
        if buffer is None:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.selector.register(conn, selectors.EVENT_READ, ("conn", port, bytearray()))
            return
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(sock)
            sock.close()
            return
        buffer += data
        while b"\n" in buffer or len(buffer) > MAX_LINE:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            text = line[:MAX_LINE].decode(errors="replace").strip()
            reply, after = self.answer(text, port)
            import json  # at the first query, not at start (imported once, then cached)

            self.say(f"port {port}: {text!r} -> {json.dumps(reply)}")
            sock.setblocking(True)
            sock.settimeout(5.0)
            try:
                sock.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass
            sock.setblocking(False)
            if after:
                self.act(after)

    def run(self) -> int:
        settings = self.settings
        start = time.monotonic()
        listen_at = start + settings.listen_after
        fail_at = start + settings.fail_after if settings.fail else None
        self.say(f"starting (pid {os.getpid()}); listen in {settings.listen_after:g}s"
                 + (f"; will {settings.fail} after {settings.fail_after:g}s" if settings.fail else ""))
        try:
            while True:
                now = time.monotonic()
                if not self.listeners and now >= listen_at:
                    self.listen()
                if fail_at is not None and now >= fail_at:
                    fail_at = None
                    self.act(settings.fail)
                deadlines = [d for d in (None if self.listeners else listen_at, fail_at) if d is not None]
                timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                for key, _ in self.selector.select(timeout):
                    _, port, buffer = key.data
                    self.on_readable(key.fileobj, port, buffer)
        except ServerExit as stop:
            return stop.code
        finally:
            for key in list(self.selector.get_map().values()):
                key.fileobj.close()
            self.selector.close()


def _on_sigterm(signum, frame):
    raise ServerExit(143)


def main(argv: list[str] | None = None, environ=None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ if environ is None else environ)
    signal.signal(signal.SIGTERM, _on_sigterm)
    server = IslandServer(settings)
    try:
        return server.run()
    except ServerExit as stop:  # SIGTERM outside the loop's own handler
        return stop.code
    finally:
        server.say("stopped")


if __name__ == "__main__":
    sys.exit(main())
