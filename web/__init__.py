"""The web layer (installed as ``island_ssh_web``): the standalone app and the embeddable blueprint.

    from island_ssh_web import User, create_app, create_blueprint
"""

from island_ssh.core.identity import User  # what a host's current_user hook returns
from island_ssh_web.app import create_app
from island_ssh_web.blueprint import create_blueprint

__all__ = ["User", "create_app", "create_blueprint"]
