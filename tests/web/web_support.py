"""Helpers for the web tests (a plain module: tests/web has no package, so pytest puts it on sys.path).

The app runs over a real Store on the test module's MariaDB database; tests that need the
cluster use the island_env fixture instead.
"""

from __future__ import annotations

import re

from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.core.tokens import hash_token
from island_ssh.service.islands import IslandService
from island_ssh.testing.fakes import FakeKubectl

# at least 32 characters each: the app refuses shorter tokens at start (island_ssh_web.auth.MIN_SECRET)
LIU, BOB, ADMIN = ("tok-liu-0123456789abcdef0123456789", "tok-bob-0123456789abcdef0123456789",
                   "tok-root-0123456789abcdef0123456789")
TOKENS = {LIU: "刘电波", BOB: "bob", ADMIN: "admin"}


def web_settings(base=None, db_settings=None, **web):
    settings = base or load_settings(DEFAULT_CONFIG, environ={})
    if db_settings is not None:
        settings = settings.replace(database={k: getattr(db_settings, k) for k in
                                              ("host", "port", "user", "password", "name")})
    options = {"users": dict(TOKENS), "admins": ["admin"], "secret_key": "test-secret-key-not-for-production"}
    options.update(web)
    return settings.replace(web=options)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def allocate(store, settings, owner: str, branch: str = "dev", token: str = "island-token-" + "z" * 20):
    return store.allocate(owner, branch, lambda i: f"altraserver-t-{branch}-{i}", {}, hash_token(token),
                          settings.islands)


def ready_islands(store, settings, count: int, prefix: str, branches=("dev",)) -> list:
    """``count`` islands of 刘电波 stored as ready (no pods: for pages and endpoints that only read
    MySQL), branches taken in turn; pod names ``altraserver-PREFIX-BRANCH-ID``."""
    rows = []
    for n in range(count):
        branch = branches[n % len(branches)]
        row = store.allocate("刘电波", branch, lambda i, b=branch: f"altraserver-{prefix}-{b}-{i}", {},
                             hash_token(f"{prefix}-token-{n:04d}-abcdefghijkl"), settings.islands)
        store.transition(row.island_id, row.generation, "ready", "Ready", "")
        rows.append(row)
    return rows


def service_without_cluster(settings, store) -> IslandService:
    """For endpoints that never reach kubectl (reads, permission checks, validation): its
    FakeKubectl records any call, so ``service.kubectl.calls`` shows whether one did."""
    return IslandService(settings, store, FakeKubectl())


from island_ssh.testing.waiting import wait_for  # noqa: E402,F401

def csrf_from(html: str) -> str:
    match = re.search(r'data-csrf="([^"]+)"', html) or re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, token: str) -> str:
    """Log in through the form like a browser; returns the CSRF token of the new session."""
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"token": token, "csrf_token": csrf_from(page)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return csrf_from(client.get("/").get_data(as_text=True))
