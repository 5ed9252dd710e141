"""The web layer (installed as ``island_ssh_web``): Flask app and blueprint over the service layer."""

from .app import create_app

__all__ = ["create_app"]
