"""The checks of ``island-ssh doctor``: that everything island_ssh needs is in place, one line each
(island_ssh.cli.doctor prints them).

Each check says what it found and, on failure, what to do. Checks that need an earlier one
(kubectl needs the SSH login) are skipped with a line saying why, instead of piling up errors.
Nothing is changed anywhere: pod creation is checked with a server-side dry run, deletion by
deleting a pod name that does not exist (the API server checks the permission first).
"""

from __future__ import annotations

import json
import secrets
import socket
from typing import Callable, Iterator
from urllib.parse import urlsplit

import paramiko
import yaml

from island_ssh.config import Settings, load_settings
from island_ssh.resources import load_template
from island_ssh.core.errors import ConfigError, IslandError, KubectlError, NotFound
from island_ssh.kube.rights import RBAC_FILE, REQUIRED as REQUIRED_RIGHTS

from island_ssh.service.check import (EXIT_CONFIG, EXIT_KUBECTL, EXIT_PERMISSION, EXIT_UNREACHABLE,  # noqa: F401
                                      FAIL, OK, SKIP, WARN, Check)


class Doctor:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self.settings: Settings | None = None
        self.shell = None
        self.kubectl = None

    def checks(self) -> Iterator[Check]:
        """The checks in order, each yielded as soon as it is done (the CLI prints it at once)."""
        config = self.check_config()
        yield config
        if config.status != OK:
            return
        yield self.check_registration_url()
        yield check_registration_transport(self.settings.islands.registration_url)
        database = self.check_database()
        yield database
        from island_ssh.service.doctor_notify import check_notifications  # webhooks: recent failures
        yield (check_notifications(self.settings) if database.status == OK
               else Check("notifications", SKIP, "needs the database above"))
        yield check_key_file_mode(self.settings.ssh.key_file)
        yield self.check_host_key()
        login = self.check_login()
        yield login
        skip_why = "" if login.status == OK else "needs the SSH login above"
        if not skip_why:
            from island_ssh.service.doctor_master import check_login_shell, check_sessions
            shell_check = check_login_shell(self.shell.target)
            yield shell_check
            yield check_sessions(self.shell.target)
            if shell_check.status == FAIL:  # kubectl runs through that login shell
                skip_why = "needs a login shell that runs commands (above)"
        if skip_why:
            for name in ("kubectl", "rights", "create pods", "code volume", "island clock"):
                yield Check(name, SKIP, skip_why)
            return
        kubectl = self.check_kubectl()
        yield kubectl
        if kubectl.status != OK:
            for name in ("rights", "create pods", "code volume", "island clock"):
                yield Check(name, SKIP, "needs kubectl above")
            return
        yield self.check_kubectl_version()
        yield from self.check_permissions()
        yield self.check_storage()
        from island_ssh.service.doctor_clock import check_island_clock
        yield check_island_clock(self.kubectl, self.settings.islands.faketime_file)

    def close(self) -> None:
        if self.shell is not None:
            self.shell.close()

    # -- the checks ------------------------------------------------------------------------------
    def check_config(self) -> Check:
        from island_ssh.service.recovery import check_recover_settings
        try:
            self.settings = load_settings(self.config_path)
            check_recover_settings(self.settings)
        except ConfigError as exc:
            return Check("config", FAIL, exc.message, EXIT_CONFIG)
        return Check("config", OK, f"{self.settings.source} parsed")

    def check_registration_url(self) -> Check:
        url = self.settings.islands.registration_url
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return Check("registration url", FAIL, f"islands.registration_url is {url!r}; set it to the http(s) "
                         f"address the pods call back (the web app)", EXIT_CONFIG)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            addresses = sorted({a[4][0] for a in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)})
        except (socket.gaierror, ValueError) as exc:
            return Check("registration url", FAIL, f"{url}: {parts.hostname} does not resolve ({exc}); fix "
                         f"islands.registration_url or DNS", EXIT_CONFIG)
        return Check("registration url", OK, f"{url} -> {', '.join(addresses)}")

    def check_database(self) -> Check:
        from island_ssh.store import Store
        db = self.settings.database
        try:
            with Store(db) as store:
                version = store.check_schema()
        except IslandError as exc:
            return Check("database", FAIL, exc.message, EXIT_UNREACHABLE)
        return Check("database", OK, f"{db.user}@{db.host}:{db.port}/{db.name} answers; schema version {version} "
                     f"is current")

    def check_host_key(self) -> Check:
        from island_ssh.ssh import SSHTarget, fingerprint
        target = SSHTarget.from_settings(self.settings.ssh)
        keys = paramiko.HostKeys()
        try:
            keys.load(target.known_hosts)
        except FileNotFoundError:
            return Check("host key", FAIL, f"known_hosts file {target.known_hosts} does not exist; put the master's "
                         f"host key there (ssh-keyscan -p {target.port} {target.host}, after checking it)",
                         EXIT_UNREACHABLE)
        except (OSError, paramiko.SSHException) as exc:
            return Check("host key", FAIL, f"cannot read {target.known_hosts}: {exc}", EXIT_UNREACHABLE)
        found = keys.lookup(target.address)
        if not found:
            return Check("host key", FAIL, f"{target.address} is not in {target.known_hosts}; add the master's "
                         f"host key there (ssh-keyscan -p {target.port} {target.host}, after checking it)",
                         EXIT_UNREACHABLE)
        listed = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in found.values())
        return Check("host key", OK, f"{target.address} known: {listed}")

    def check_login(self) -> Check:
        from island_ssh.ssh import HostKeyError, RemoteShell, SSHTarget
        target = SSHTarget.from_settings(self.settings.ssh)
        self.shell = RemoteShell(target)
        try:
            self.shell.connect()
        except HostKeyError as exc:
            return Check("ssh login", FAIL, exc.message, EXIT_UNREACHABLE)
        except IslandError as exc:
            return Check("ssh login", FAIL, exc.message, EXIT_UNREACHABLE)
        return Check("ssh login", OK, f"key auth as {target} works (host key matched)")

    def check_kubectl(self) -> Check:
        from island_ssh.kube.kubectl import Kubectl
        self.kubectl = Kubectl(self.shell, self.settings.kube)
        try:
            # Kubectl keeps the answer: the version check and the apply mode below reuse it
            version = self.kubectl.client().version
        except IslandError as exc:
            return Check("kubectl", FAIL, f"`{self.settings.kube.kubectl}` on the master: "
                         f"{exc.message}; is kubectl on the login shell's PATH (kube.kubectl)?", EXIT_KUBECTL)
        return Check("kubectl", OK, f"kubectl {version} runs on the master")

    def check_kubectl_version(self) -> Check:
        """The master's kubectl against core.kubectl_versions (the oldest supported, exec protocol)."""
        try:
            client = self.kubectl.client()
        except IslandError as exc:
            return Check("kubectl version", FAIL, exc.message, EXIT_KUBECTL)
        problem = client.problem()
        if problem:
            return Check("kubectl version", FAIL, problem, EXIT_CONFIG)
        apply = "server-side" if self.kubectl.server_side_apply() else "client-side"
        return Check("kubectl version", OK, f"kubectl {client.version}: supported; exec over "
                     f"{client.exec_protocol}, {apply} apply (kube.server_side_apply: "
                     f"{self.settings.kube.server_side_apply})")

    def check_permissions(self) -> Iterator[Check]:
        """One `kubectl auth can-i` a right island_ssh uses (kube.rights), a line per missing one, then a
        server dry run of an island pod (admission too). A master without access reviews: probes."""
        ns = self.settings.kube.namespace
        answers = [(right, self._can_i(right)) for right in REQUIRED_RIGHTS]
        if any(answer not in ("yes", "no") for _, answer in answers):
            unanswered = next(answer for _, answer in answers if answer not in ("yes", "no"))
            yield Check("rights", WARN, f"not checked: the API server does not answer `kubectl auth can-i` "
                        f"({unanswered}); probing instead")
            yield from self._probe_rights()
        else:
            missing = [right for right, answer in answers if answer == "no"]
            for right in missing:
                where = "the cluster" if right.cluster_scoped else f"namespace {ns}"
                yield Check(f"may {right}", FAIL, f"the master's Kubernetes user may not {right} in {where} "
                            f"({right.why}); grant it: kubectl apply -f {RBAC_FILE} (as a cluster admin)", EXIT_CONFIG)
            if not missing:
                yield Check("rights", OK, f"all {len(answers)} rights island_ssh uses are granted ({RBAC_FILE})")
        yield self._probe("create pods", self._dry_run_create, f"may create island pods in {ns} (server dry run)")

    def _can_i(self, right) -> str:
        """'yes', 'no', or why there is no answer."""
        cmd = self.kubectl.command(*right.can_i_args(), namespaced=not right.cluster_scoped)
        try:
            result = self.shell.run(cmd, timeout=30.0)
        except IslandError as exc:
            return exc.message
        answer = result.stdout.strip()
        if answer in ("yes", "no"):
            return answer
        return next((line.strip() for line in result.stderr.splitlines() if line.strip()), "no answer")

    def _probe_rights(self) -> Iterator[Check]:
        ns = self.settings.kube.namespace
        yield self._probe("list pods", lambda: self.kubectl.pods(), f"may list pods in namespace {ns}")
        name = f"island-ssh-doctor-absent-{secrets.token_hex(4)}"

        def delete_absent():
            try:
                self.kubectl.run("delete", "pod", name, "--dry-run=server", "--wait=false")
            except NotFound:
                return  # the API server checks permission before existence: NotFound means allowed
        yield self._probe("delete pods", delete_absent, f"may delete pods in {ns}")

    def _probe(self, name: str, call: Callable[[], object], ok_text: str) -> Check:
        try:
            call()
        except KubectlError as exc:
            denied = "forbidden" in exc.stderr.lower()
            hint = "grant it with an RBAC Role/RoleBinding for the master's kubeconfig user" if denied else \
                "is the API server up and the kubeconfig right?"
            return Check(name, FAIL, f"{exc.message}; {hint}", EXIT_PERMISSION if denied else EXIT_KUBECTL)
        except IslandError as exc:
            return Check(name, FAIL, exc.message, EXIT_UNREACHABLE)
        return Check(name, OK, ok_text)

    def _dry_run_create(self) -> None:
        from island_ssh.core.manifests import IslandSpec, render_pod
        islands = self.settings.islands
        spec = IslandSpec(island_id=islands.id_max, owner="island-ssh-doctor", branch=islands.default_branch,
                          memory_request=islands.memory_request, memory_limit=islands.memory_limit,
                          image=islands.image, token=secrets.token_urlsafe(24), debug_flag=islands.debug_flag)
        pod = render_pod(spec, islands, self.settings.kube.namespace, load_template("pod"))
        pod["metadata"]["name"] = f"island-ssh-doctor-probe-{secrets.token_hex(4)}"
        self.kubectl.run("create", "--dry-run=server", "-f", "-", "-o", "name",
                         stdin=yaml.safe_dump(pod, allow_unicode=True).encode("utf-8"))

    def check_storage(self) -> Check:
        claim = self.settings.islands.code_claim
        try:
            pvc = json.loads(self.kubectl.run("get", "pvc", claim, "-o", "json"))
        except NotFound:
            return Check("code volume", FAIL, f"PersistentVolumeClaim {claim} does not exist in namespace "
                         f"{self.settings.kube.namespace}; create the PV and PVC (yaml_templates/pv.yaml, pvc.yaml)",
                         EXIT_KUBECTL)
        except (IslandError, ValueError) as exc:
            return Check("code volume", FAIL, getattr(exc, "message", str(exc)), EXIT_KUBECTL)
        phase = (pvc.get("status") or {}).get("phase")
        volume = (pvc.get("spec") or {}).get("volumeName")
        if phase != "Bound" or not volume:
            return Check("code volume", FAIL, f"PersistentVolumeClaim {claim} is {phase or 'not bound'}; it must be "
                         f"Bound to the PersistentVolume holding the game code", EXIT_KUBECTL)
        try:
            self.kubectl.run("get", "pv", volume, "-o", "name", namespaced=False)
        except IslandError as exc:
            return Check("code volume", FAIL, f"PersistentVolume {volume} of claim {claim}: {exc.message}",
                         EXIT_KUBECTL)
        return Check("code volume", OK, f"PersistentVolumeClaim {claim} is Bound to PersistentVolume {volume}")


def check_key_file_mode(key_file: str) -> Check:
    """ssh.key_file opens the master (kubectl there runs every island): nobody but its owner may read it."""
    from island_ssh.config import expand_path
    path = expand_path(key_file)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as exc:
        return Check("key file mode", WARN, f"not checked: {path}: {exc.strerror} (ssh.key_file)")
    if mode & 0o077:
        return Check("key file mode", WARN, f"{path} is readable or writable by group/others (mode {mode:04o}): "
                     f"anyone on this machine who can read it runs kubectl on the master; chmod 600 {path}")
    return Check("key file mode", OK, f"{path} is its owner's only (mode {mode:04o})")


def check_registration_transport(url: str) -> Check:
    """The pods' registration call carries the island's token: in clear over http, anyone on the
    path between a node and us can read it and register a server in that island's place."""
    import ipaddress
    parts = urlsplit(url or "")
    host = parts.hostname or ""
    if parts.scheme != "http":
        if parts.scheme == "https":
            return Check("registration tls", OK, "https: the pods' tokens do not travel in clear")
        return Check("registration tls", SKIP, "needs an http(s) registration url (above)")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False  # a name: it may resolve anywhere the pods are
    if loopback:
        return Check("registration tls", OK, f"http to {host} stays on this machine")
    return Check("registration tls", WARN, f"islands.registration_url {url} is http:// to {host}, not loopback: "
                 "each pod's registration token crosses the network in clear; serve the web app behind "
                 "https (a TLS proxy) and set an https:// address")


def exit_code(checks: list[Check]) -> int:
    """0 when nothing failed, else the exit code of the first failure."""
    return next((c.exit_code or 1 for c in checks if c.status == FAIL), 0)

