"""Inside a fresh mount+PID(+UTS) namespace, build the container's view and exec its command.

It runs as PID 1 of the new PID namespace and replaces itself with the container's command, in
one of two ways: in a clone of the fork server (zygote.py, which imports this module once and calls
``run`` in each clone), or, on the old path, as ``unshare --mount --pid --uts --fork --mount-proc
-- python -I -S container_init.py`` with its spec in ISLAND_SANDBOX_CONTAINER_SPEC as base64 of
``marshal.dumps`` (the kubelet's interpreter is ours, so the format matches; json would import re
and enum, 10 ms of CPU on every container start). Standard library only (it runs before anything
else, with isolated flags). It tells the kubelet "ok" or "error <Reason> <message>" on the status
descriptor, then execs with default signal dispositions.

Mount points that do not exist (``/home/server``, ``/usr/lib64/faketime/...``) are made without
touching the host: the deepest existing ancestor gets an overlay whose upper layer lives on a
scratch tmpfs, so its real contents (e.g. the dynamic loader in /usr/lib64) stay visible and the
new directory exists only in this namespace. A fresh tmpfs then covers /tmp (hiding the scratch
layer) and another /dev/shm, so each container has its own clock file and its own libfaketime
shared-memory segments.
"""

import _signal  # not signal: that one imports enum, milliseconds of CPU on every container start
import binascii
import ctypes
import marshal
import os
import stat
import sys

PR_CAPBSET_DROP = 24
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
PRIVATE_TMPFS = ("/tmp", "/dev/shm")
SCRATCH = "/tmp"

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def _mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise SetupError("CreateContainerError",
                         f"mount {source or fstype} on {target}: {os.strerror(err)}")


def _under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


class MountBuilder:
    def __init__(self):
        self.overlaid = []      # directories we covered with a writable overlay
        self.scratch_count = 0

    def writable_here(self, path):
        return any(_under(path, root) for root in self.overlaid)

    def overlay(self, directory):
        self.scratch_count += 1
        layer = f"{SCRATCH}/.overlay-{self.scratch_count}"
        os.makedirs(layer + "/upper")
        os.makedirs(layer + "/work")
        _mount("overlay", directory, "overlay", 0,
               f"lowerdir={directory},upperdir={layer}/upper,workdir={layer}/work")
        self.overlaid.append(directory)

    def ensure(self, target, is_dir):
        """Make ``target`` exist (as a directory or an empty file) in this namespace only."""
        if os.path.lexists(target):
            if os.path.isdir(target) != is_dir:
                kind = "a directory" if is_dir else "a file"
                raise SetupError("CreateContainerError", f"mount target {target} exists but is not {kind}")
            return
        ancestor = os.path.dirname(target)
        while not os.path.isdir(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not self.writable_here(ancestor) and not any(_under(ancestor, t) for t in PRIVATE_TMPFS):
            if ancestor == "/":
                raise SetupError("CreateContainerError",
                                 f"mount target {target}: the sandbox does not create top-level "
                                 "directories (that would change the host); use a path below an "
                                 "existing directory")
            self.overlay(ancestor)
        if is_dir:
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "a"):
                pass


def _bind(fd, target, read_only):
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    if read_only:
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _find_executable(name, env):
    if "/" in name:
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def build(spec):
    """Everything up to (not including) the exec; returns the executable's path."""
    if spec.get("cgroup_procs"):
        with open(spec["cgroup_procs"], "w") as f:
            f.write("0")  # moves this process (and so the container) into its memory cgroup
    hostname = spec.get("hostname", "").encode()[:64]
    if hostname and _libc.sethostname(hostname, len(hostname)) != 0:
        raise SetupError("CreateContainerError", f"sethostname: {os.strerror(ctypes.get_errno())}")

    binds = []
    for bind in spec.get("binds", []):
        try:
            fd = os.open(bind["source"], os.O_PATH | os.O_CLOEXEC)
        except OSError as exc:
            raise SetupError("CreateContainerError",
                             f"host path {bind['source']} for {bind['target']}: {exc.strerror}") from None
        binds.append((fd, stat.S_ISDIR(os.fstat(fd).st_mode), bind))

    builder = MountBuilder()
    _mount("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=16m")
    early = [b for b in binds if not any(_under(b[2]["target"], t) for t in PRIVATE_TMPFS)]
    late = [b for b in binds if b not in early]
    working_dir = spec.get("working_dir") or "/"
    for fd, is_dir, bind in early:
        builder.ensure(bind["target"], is_dir)
        _bind(fd, bind["target"], bind.get("read_only", False))
    late_workdir = any(_under(working_dir, t) for t in PRIVATE_TMPFS)
    if not late_workdir:
        builder.ensure(working_dir, True)
    for place in PRIVATE_TMPFS:
        # The second tmpfs on /tmp hides the scratch one, whose overlay layers stay in use.
        _mount("tmpfs", place, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=" + spec.get("tmpfs_size", "256m"))
    for fd, is_dir, bind in late:
        builder.ensure(bind["target"], is_dir)
        _bind(fd, bind["target"], bind.get("read_only", False))
    if late_workdir:
        os.makedirs(working_dir, exist_ok=True)
    for fd, _, _ in binds:
        os.close(fd)
    os.chdir(working_dir)

    argv, env = spec["argv"], spec["env"]
    executable = _find_executable(argv[0], env)
    if executable is None:
        where = "" if "/" in argv[0] else " in $PATH"
        raise SetupError("StartError", f'exec: "{argv[0]}": executable file not found{where}')
    return executable


def limit_capabilities(keep):
    """Drop every capability but ``keep`` from the bounding set: the command we exec (as root)
    gets exactly ``keep`` (its permitted set becomes the bounding set), and nothing it starts can
    get more. Done last: the mounts above needed CAP_SYS_ADMIN."""
    if keep is None:
        return
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if cap not in keep and _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise SetupError("CreateContainerError",
                             f"dropping capability {cap}: {os.strerror(ctypes.get_errno())}")


def encode_spec(spec):
    """What the kubelet puts in ISLAND_SANDBOX_CONTAINER_SPEC (plain dicts, lists, str, int, None)."""
    return binascii.b2a_base64(marshal.dumps(spec), newline=False).decode("ascii")


def decode_spec(text):
    return marshal.loads(binascii.a2b_base64(text))


def reset_signals():
    """Default dispositions and an empty mask for the command, as a fresh process has them: an
    ignored signal stays ignored across exec, and Python ignores SIGPIPE and SIGXFSZ (a container
    writing to a closed pipe must die of SIGPIPE, not loop on EPIPE)."""
    for sig in _signal.valid_signals():
        if sig not in (_signal.SIGKILL, _signal.SIGSTOP):
            try:
                _signal.signal(sig, _signal.SIG_DFL)
            except (OSError, ValueError):  # the C library's own real-time signals
                pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


def run(spec, status_fd, log_fd, prepare=None):
    """Set up and exec; returns an exit code only when that failed. ``prepare`` (the fork server's
    part: /proc, session) runs first, its failures reported like the setup's."""
    os.dup2(log_fd, 1)  # the container's log: our setup errors and then the command's output
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        if prepare is not None:
            prepare()
        executable = build(spec)
        limit_capabilities(spec.get("capabilities"))
        if spec.get("nice"):
            os.setpriority(os.PRIO_PROCESS, 0, spec["nice"])  # inherited by all the command starts
    except SetupError as exc:
        os.write(status_fd, f"error {exc.reason} {exc}\n".encode())
        sys.stderr.write(f"sandbox: {exc}\n")
        return 128
    except Exception as exc:  # anything else is a setup failure the kubelet must see
        os.write(status_fd, f"error CreateContainerError {type(exc).__name__}: {exc}\n".encode())
        sys.stderr.write(f"sandbox: container setup failed: {exc!r}\n")
        return 128
    os.write(status_fd, b"ok\n")
    os.close(status_fd)
    sys.stdout.flush()
    reset_signals()
    try:
        os.execve(executable, spec["argv"], spec["env"])
    except OSError as exc:
        sys.stderr.write(f"sandbox: exec {executable}: {exc.strerror}\n")
        return 128


def main():
    log_fd = int(os.environ.pop("ISLAND_SANDBOX_LOG_FD"))
    spec = decode_spec(os.environ.pop("ISLAND_SANDBOX_CONTAINER_SPEC"))
    status_fd = int(os.environ.pop("ISLAND_SANDBOX_STATUS_FD"))
    return run(spec, status_fd, log_fd)


if __name__ == "__main__":
    sys.exit(main())
