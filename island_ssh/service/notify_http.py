"""One webhook call over http.client (the standard library): POST, no redirects, a total deadline,
an answer read up to a size. Hostile receivers are survived with a message saying what they did:

* slow (no answer, or one trickled a byte at a time): a watchdog shuts the socket down once the
  webhook's ``timeout`` has passed in all -> "no answer within 5 s" (retried);
* huge: at most ``max_bytes`` of the answer are read, the rest never (the connection is closed);
* 5xx, 408, 429, connection refused or reset: retried; other 4xx: failed at once (a retry would
  get the same answer);
* 3xx: never followed (a webhook URL is operator config; a redirect could point anywhere) ->
  failed at once, naming the Location.

http.client is enough here (one POST, no sessions, no proxies); it never follows redirects by
itself, and its plain sockets let the watchdog enforce a total deadline.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from island_ssh.core.notify_payload import Payload, answer_problem, sign, split_url

USER_AGENT = "island-ssh-notify/1"
_ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class CallResult:
    ok: bool
    status: int | None
    error: str = ""
    """'' when delivered; else one line saying what the receiver did."""
    retry: bool = False
    """Worth another try (5xx, 429, timeout, connection trouble)."""
    cut: bool = False
    """The answer was longer than max_bytes (only the first max_bytes were read)."""


def _context() -> ssl.SSLContext:
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


def _snippet(data: bytes, limit: int = 200) -> str:
    text = data[:limit].decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()


def post(hook, payload: Payload, max_bytes: int) -> CallResult:
    """POST ``payload`` to ``hook.url`` with ``hook.headers``; never raises."""
    url, payload = sign(getattr(hook, "preset", "json"), getattr(hook, "secret", ""), hook.url, payload, time.time())
    parts = split_url(url)  # checked when the config was loaded: http(s) with a host
    if parts is None or parts.scheme not in ("http", "https") or not parts.host:
        return CallResult(False, None, "not an http(s) URL with a host")
    timeout = float(hook.timeout)
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.host, parts.port, timeout=timeout, context=_context())
    else:
        conn = http.client.HTTPConnection(parts.host, parts.port, timeout=timeout)
    expired = threading.Event()

    def watchdog() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    started = time.monotonic()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": payload.content_type, "User-Agent": USER_AGENT, "Accept": "*/*"}
    headers.update(hook.headers)
    timer.start()
    try:
        conn.request("POST", path, body=payload.body, headers=headers)
        answer = conn.getresponse()
        data = answer.read(max_bytes + 1)
        if expired.is_set():
            raise TimeoutError
        status = answer.status
        cut = len(data) > max_bytes
        data = data[:max_bytes]
        note = f" (answer cut at {max_bytes} bytes)" if cut else ""
        if 200 <= status < 300:
            problem = answer_problem(getattr(hook, "preset", "json"), status, data)
            if problem:
                return CallResult(False, status, problem + note, retry=True, cut=cut)
            return CallResult(True, status, "", cut=cut)
        if 300 <= status < 400:
            location = answer.getheader("Location") or "(no Location header)"
            return CallResult(False, status, f"answered {status} {answer.reason} redirecting to {location[:300]}; "
                              f"redirects are not followed: put the final URL in the webhook's url", cut=cut)
        retry = status >= 500 or status in (408, 425, 429)
        return CallResult(False, status, f"answered {status} {answer.reason}: {_snippet(data)}{note}",
                          retry=retry, cut=cut)
    except (TimeoutError, socket.timeout):
        return CallResult(False, None, f"no answer within {timeout:g} s (the webhook's timeout)", retry=True)
    except ssl.SSLCertVerificationError as exc:
        return CallResult(False, None, f"the server's TLS certificate was refused: {exc.verify_message or exc}")
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            return CallResult(False, None, f"no answer within {timeout:g} s (the webhook's timeout)", retry=True)
        why = str(exc) or type(exc).__name__
        return CallResult(False, None, f"call failed after {time.monotonic() - started:.1f} s: {why}", retry=True)
    finally:
        timer.cancel()
        conn.close()
