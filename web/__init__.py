"""The web layer (installed as ``island_ssh_web``): the standalone app and the embeddable blueprint.

    from island_ssh_web import create_app, create_blueprint
"""

from island_ssh_web.app import create_app
from island_ssh_web.blueprint import create_blueprint

__all__ = ["create_app", "create_blueprint"]
