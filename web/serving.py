"""Run the app under waitress with limits taken from WebSettings (``island-ssh serve`` calls ``serve``).

waitress's own defaults suit a server behind a proxy that already limits clients, not one facing
pods and browsers directly: it reads a body of up to 1 GiB into a temporary file before the app
can answer 413, keeps an idle keep-alive connection for 120 s, and stops accepting at 100 open
connections, so 100 idle sockets shut out every other client, pod registrations included, for two
minutes. Here:

- ``max_request_body_size`` is web.max_body_bytes + 1 (waitress refuses a Content-Length at or
  over its limit as soon as the headers are in, without reading the body; Flask's own limit is
  web.max_body_bytes, so a body of exactly that size passes both);
- ``channel_timeout`` is web.idle_timeout, and ``cleanup_interval`` a third of it, so an idle
  connection is closed within about 1.3 x idle_timeout, not idle_timeout + 30 s;
- ``connection_limit`` is web.connection_limit, with poll() instead of select() so that more than
  1024 descriptors work;
- ``threads`` is web.threads + web.max_streams: an open page's stream holds a thread for up to a
  minute, so streams get threads of their own beyond those that serve requests (the blueprint
  refuses a stream past web.max_streams: that page polls);
- ``outbuf_high_watermark`` is 256 KiB, not 16 MiB: once a response writes 8 KiB at once, waitress
  keeps everything the connection sends in one buffer until that many bytes were written, then
  starts a new one; an open page's stream (up to a minute of transitions) held up to 16 MiB. It
  is also how much unsent output makes a writing thread wait for the client (backpressure);
- ``max_request_header_size`` is web.max_header_bytes; ``inbuf_overflow`` (bytes of a body kept
  in memory before spilling to a temporary file) is at most the body limit.

A slow client that sends a byte now and then is not idle; per-address connection limits belong to
a reverse proxy in front, and docs/web.md says so.
"""

from __future__ import annotations

from island_ssh.core.errors import ConfigError

from island_ssh_web.app import max_body_bytes

OUTBUF_BYTES = 256 * 1024
"""waitress's outbuf_high_watermark (see the module docstring)."""


def _whole(web, name: str, low: int, default: int) -> int:
    value = getattr(web, name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"web.{name}: expected a whole number of at least {low}, got {value!r}")
    return value


def waitress_options(web) -> dict:
    """The keyword arguments for waitress.serve / create_server from a WebSettings."""
    body = max_body_bytes(web)
    idle = _whole(web, "idle_timeout", 1, 15)
    return {
        # a live-update stream holds its thread while the page is open: streams get threads of their
        # own, so web.max_streams open pages never keep a launch or a registration waiting
        "threads": _whole(web, "threads", 1, 32) + _whole(web, "max_streams", 0, 0),
        "max_request_body_size": body + 1,
        "max_request_header_size": _whole(web, "max_header_bytes", 4096, 64 * 1024),
        "inbuf_overflow": min(body, 512 * 1024),
        "channel_timeout": idle,
        "cleanup_interval": max(1, idle // 3),
        "connection_limit": _whole(web, "connection_limit", 8, 400),
        # a connection's output buffer keeps every byte written to it until this many were (then a
        # new one is started): a page's stream writes for up to a minute, 16 MiB by default
        "outbuf_high_watermark": OUTBUF_BYTES,
        "asyncore_use_poll": True,
        "ident": "island_ssh",  # the Server header names no version
    }


def create_server(app, web, host: str | None = None, port: int | None = None):
    """A waitress server for ``app`` bound to host:port (web.bind / web.port when not given);
    ``.run()`` serves until ``.close()`` (tests run it in a thread)."""
    from waitress.server import create_server as waitress_create_server

    return waitress_create_server(app, host=host or web.bind, port=web.port if port is None else port,
                                  **waitress_options(web))


def serve(app, web, host: str | None = None, port: int | None = None) -> None:
    """Serve ``app`` until the process is stopped."""
    server = create_server(app, web, host, port)
    server.print_listen("Serving on http://{}:{}")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
