"""island_ssh: isolated game-server test islands as Kubernetes Pods, driven over one SSH connection."""

__version__ = "0.1.0"
