"""One SSH connection to the master: TCP (with TCP_NODELAY), host key check, key auth, liveness.

Liveness: paramiko's keepalive only *sends* (want_reply false), so a frozen server (half-open TCP:
the kernel still ACKs) would look fine forever. We therefore time the last byte that arrived on
the socket and, while someone is waiting on this connection and it has been silent for
keepalive_interval, open and close a session channel: a live server answers at once. A connection
silent for inactivity_timeout while someone waits is declared lost and closed, which wakes every
channel on it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import paramiko

from island_ssh.ssh.errors import (AuthError, CommandTimeout, ConnectError, ConnectionLost, HostKeyError,
                                  SessionLimitError, SSHError)
from island_ssh.ssh.target import SSHTarget

JOIN_TIMEOUT = 5.0


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256:<base64 without padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class _RxClockSocket:
    """The real socket, plus the monotonic time bytes last arrived (paramiko reads via recv)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.last_rx = time.monotonic()

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        if data:
            self.last_rx = time.monotonic()
        return data

    def __getattr__(self, name):
        return getattr(self._sock, name)


class Connection:
    """A connected, authenticated Transport. Create with ``open_connection(target)``."""

    def __init__(self, target: SSHTarget, transport: paramiko.Transport, sock: _RxClockSocket) -> None:
        self.target = target
        self.transport = transport
        self._sock = sock
        self._probe_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._lost_lock = threading.Lock()
        self.lost_reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.lost_reason is None and self.transport.is_active()

    def check_alive(self, since: float) -> None:
        """Raise ConnectionLost if the transport died, or nothing arrived for inactivity_timeout
        since max(last byte, ``since`` = when the caller started waiting). Probes when quiet."""
        if self.lost_reason is not None:
            raise ConnectionLost(self.lost_reason)
        if not self.transport.is_active():
            self.mark_lost(f"the SSH connection to {self.target} closed ({self._transport_error()})")
            raise ConnectionLost(self.lost_reason or "connection closed")
        timeout = self.target.inactivity_timeout
        silence = time.monotonic() - max(self._sock.last_rx, since)
        if silence >= timeout:
            self.mark_lost(
                f"no byte from {self.target} for {silence:.1f}s although it was probed "
                f"(inactivity_timeout {timeout}s): the server or the network is stuck"
            )
            raise ConnectionLost(self.lost_reason or "connection stuck")
        keepalive = self.target.keepalive_interval
        probe_after = keepalive if 0 < keepalive < timeout / 2 else timeout / 2
        if silence >= probe_after:
            self._probe(timeout - silence)

    def _probe(self, timeout: float) -> None:
        # One prober at a time; the others read its verdict from last_rx on their next check.
        if not self._probe_lock.acquire(blocking=False):
            return
        try:
            if self._open_lock.acquire(timeout=max(timeout, 0.01)):  # see open_channel
                try:
                    self.transport.open_session(timeout=max(timeout, 0.01)).close()
                finally:
                    self._open_lock.release()
        except Exception:  # the verdict is last_rx / is_active, judged by check_alive (a refusal is an answer)
            pass
        finally:
            self._probe_lock.release()

    def mark_lost(self, reason: str) -> None:
        """Declare the connection dead and close it: every channel on it wakes up closed."""
        with self._lost_lock:
            if self.lost_reason is None:
                self.lost_reason = reason
        self.close()

    @contextlib.contextmanager
    def watchdog(self, timeout: float, what: str):
        """paramiko waits without a timeout for answers to channel requests (invoke_shell,
        exec_command): if none comes within ``timeout``, the connection is declared lost."""
        timer = threading.Timer(
            timeout, self.mark_lost, args=(f"{self.target} did not answer {what} within {timeout:.1f}s",)
        )
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            timer.join(JOIN_TIMEOUT)

    def open_channel(self, timeout: float, what: str) -> paramiko.Channel:
        """A new session channel; a dead connection raises ConnectionLost."""
        if not self.usable:
            raise ConnectionLost(self.lost_reason or f"the SSH connection to {self.target} is closed")
        # One open at a time: paramiko hands a refusal's reason over through one Transport-wide
        # slot (saved_exception), so two refusals at once left one opener a bare "Unable to open
        # channel." that read as a dead connection.
        if not self._open_lock.acquire(timeout=timeout):
            raise CommandTimeout(f"could not open a channel on {self.target} for {what} within {timeout:.1f}s: "
                                 "other channel opens kept it busy")
        try:
            return self.transport.open_session(timeout=timeout)
        except paramiko.ChannelException as exc:
            # The server answered: the connection is fine, only this channel was refused.
            raise self._refusal(exc, what) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.mark_lost(f"could not open a channel on {self.target} for {what}: {exc}")
            raise ConnectionLost(self.lost_reason or str(exc)) from exc
        finally:
            self._open_lock.release()

    def open_channels(self) -> int:
        """Session channels of this connection sshd may still count against MaxSessions: open ones
        and closed ones the server has not confirmed closing (sshd frees a session only once its
        process has exited)."""
        channels = getattr(self.transport, "_channels", None)  # paramiko keeps no public count
        return len(channels.values()) if channels is not None else 0

    def _refusal(self, exc: paramiko.ChannelException, what: str) -> SSHError:
        # OpenSSH answers a session past MaxSessions with "open failed" (code 2, paramiko's text
        # "Connect failed"), other servers with "administratively prohibited" (code 1).
        if exc.code not in (paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
                            paramiko.common.OPEN_FAILED_CONNECT_FAILED):
            return SSHError(f"{self.target} refused a channel for {what}: {exc.text} (code {exc.code})")
        return SessionLimitError(session_limit_message(self.target, self.open_channels(), what))

    def close(self) -> None:
        self.transport.close()
        with contextlib.suppress(OSError):
            self._sock.close()
        if self.transport is not threading.current_thread() and self.transport.ident is not None:
            self.transport.join(JOIN_TIMEOUT)

    def _transport_error(self) -> str:
        exc = self.transport.get_exception()
        return f"{type(exc).__name__}: {exc}" if exc else "closed by the server"


def session_limit_message(target: SSHTarget, allowed: int, what: str = "") -> str:
    """What to change when the master grants ``allowed`` session channels per connection: island_ssh
    holds ssh.pool_size shells plus one for the watch (kubectl get -w)."""
    needed = target.pool_size + 1
    doing = f" (for {what})" if what else ""
    head = (f"{target} refused a new session channel{doing}: the master allows {allowed} sessions per "
            f"connection (sshd MaxSessions); island_ssh needs ssh.pool_size + 1 = {needed}: ")
    if allowed >= 2:
        return head + (f"set MaxSessions {needed} in /etc/ssh/sshd_config (then reload sshd) or ssh.pool_size "
                       f"{allowed - 1}")
    return head + (f"set MaxSessions {needed} (at least 2) in /etc/ssh/sshd_config (then reload sshd); "
                   "no ssh.pool_size fits one session")


def open_connection(target: SSHTarget) -> Connection:
    """Connect, check the host key against known_hosts, authenticate with the key.

    Raises ConnectError, HostKeyError or AuthError; all within connect_timeout.
    """
    deadline = time.monotonic() + target.connect_timeout
    raw = _tcp_connect(target)
    sock = _RxClockSocket(raw)
    transport = paramiko.Transport(sock)  # type: ignore[arg-type]
    ok = False
    try:
        known = _known_keys(target)
        _prefer_known_key_types(transport, known)
        remaining = max(deadline - time.monotonic(), 0.1)
        transport.banner_timeout = remaining
        transport.handshake_timeout = remaining
        try:
            # start_client returns silently when its timeout expires: the key tells us if it finished
            transport.start_client(timeout=remaining)
            server_key = transport.get_remote_server_key()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectError(
                f"no SSH handshake with {target.address} within {target.connect_timeout}s ({exc}); "
                "is it an SSH server, and is it answering?"
            ) from None
        _verify_host_key(target, server_key, known)
        _authenticate(target, transport, deadline)
        if target.keepalive_interval > 0:
            transport.set_keepalive(target.keepalive_interval)
        ok = True
        return Connection(target, transport, sock)
    finally:
        if not ok:
            transport.close()
            raw.close()
            if transport.ident is not None:
                transport.join(JOIN_TIMEOUT)


def _tcp_connect(target: SSHTarget) -> socket.socket:
    try:
        raw = socket.create_connection((target.host, target.port), timeout=target.connect_timeout)
    except socket.timeout:
        raise ConnectError(
            f"no answer from {target.host}:{target.port} within {target.connect_timeout}s; "
            "is the host up and the port right?"
        ) from None
    except OSError as exc:
        raise ConnectError(
            f"cannot connect to {target.host}:{target.port}: {exc.strerror or exc}; is sshd running there?"
        ) from None
    # Without TCP_NODELAY every small command waits for Nagle + delayed ACK (44 ms vs 2 ms here).
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return raw


def _known_keys(target: SSHTarget) -> dict[str, paramiko.PKey]:
    path = Path(target.known_hosts)
    if not path.is_file():
        return {}
    host_keys = paramiko.HostKeys()
    try:
        host_keys.load(os.fspath(path))
    except (OSError, paramiko.SSHException) as exc:
        raise HostKeyError(f"cannot read known_hosts file {path}: {exc}") from None
    found = host_keys.lookup(target.address)
    return dict(found.items()) if found else {}


def _prefer_known_key_types(transport: paramiko.Transport, known: dict[str, paramiko.PKey]) -> None:
    # Ask for the key type we hold, or a server with several host keys may show another one.
    if not known:
        return
    options = transport.get_security_options()
    wanted = set(known)
    if "ssh-rsa" in wanted:
        wanted |= {"rsa-sha2-512", "rsa-sha2-256"}
    ordered = list(options.key_types)
    options.key_types = [k for k in ordered if k in wanted] + [k for k in ordered if k not in wanted]


def _verify_host_key(target: SSHTarget, key: paramiko.PKey, known: dict[str, paramiko.PKey]) -> None:
    seen = f"{key.get_name()} {fingerprint(key)}"
    if not Path(target.known_hosts).is_file():
        raise HostKeyError(
            f"host key of {target.address} is unknown: known_hosts file {target.known_hosts} does not "
            f"exist. The server showed {seen}; if that is right, add it to that file yourself."
        )
    if not known:
        raise HostKeyError(
            f"host key of {target.address} is not in {target.known_hosts}. The server showed {seen}; "
            "if that is the master's key, add it to that file yourself (nothing was added)."
        )
    expected = known.get(key.get_name())
    if expected is None or expected.asbytes() != key.asbytes():
        listed = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in known.values())
        raise HostKeyError(
            f"host key of {target.address} CHANGED: the server showed {seen} but {target.known_hosts} "
            f"lists {listed}. This may be an attack; refusing to connect (nothing was changed)."
        )


def _authenticate(target: SSHTarget, transport: paramiko.Transport, deadline: float) -> None:
    key_path = Path(os.path.expanduser(target.key_file))
    try:
        key = paramiko.PKey.from_path(key_path)
    except FileNotFoundError:
        raise AuthError(f"private key {key_path} does not exist (set ssh.key_file)") from None
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise AuthError(f"cannot load private key {key_path}: {exc}") from None
    transport.auth_timeout = max(deadline - time.monotonic(), 0.1)
    try:
        transport.auth_publickey(target.user, key)
    except paramiko.AuthenticationException as exc:
        raise AuthError(
            f"{target.user}@{target.address} refused key {key_path} ({key.get_name()} {fingerprint(key)}): "
            f"{exc}; is its public key in that user's authorized_keys?"
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise ConnectError(f"authentication with {target.address} did not complete: {exc}") from None
    if not transport.is_authenticated():
        raise AuthError(f"{target.user}@{target.address} did not accept key {key_path}")
