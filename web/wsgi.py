"""WSGI entry for a multi-process server:

    ISLAND_SSH_WEB_SECRET_KEY=... gunicorn -w 3 -k gthread --threads 8 -b 127.0.0.1:8080 island_ssh_web.wsgi:app

Do not use ``--preload``: each worker must open its own SSH connection and database pool after
the fork. Workers share sessions only through the secret key, so it must be set.
"""

from __future__ import annotations

from island_ssh.config import load_settings
from island_ssh.core.errors import ConfigError

from island_ssh_web.app import create_app

settings = load_settings()
if not settings.web.secret_key:
    raise ConfigError("several workers must sign sessions with one key: set ISLAND_SSH_WEB_SECRET_KEY "
                      "(e.g. to the output of `python -c 'import secrets; print(secrets.token_hex(32))'`)")
app = create_app(settings)
