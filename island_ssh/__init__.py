"""island_ssh: isolated game-server test islands as Kubernetes Pods, driven over one SSH connection.

The packages, in the direction the calls flow:

    cli/ , island_ssh_web (web/)     the faces: command line, pages and REST API
      -> service/                    use cases: launch, delete, restart, clock, recover, doctor; wiring
        -> ssh/ , store/ , kube/     the edges: one SSH connection, MySQL, kubectl + the tracker
          -> core/                   pure data in, data out: classify, state machine, manifests, ports
    testing/                         real local services (sshd, MariaDB) and maintained fakes
    island_sandbox (separate)        the emulated cluster; the library never imports it
"""

from island_ssh import legacy_paths

__version__ = "0.1.0"

legacy_paths.install()
