"""The sandbox's fork server: one small process per kubelet loop that starts every container.

Started by ``forkserver.ForkServer`` as ``python -I -S zygote.py KUBELET_PID SOCKET_FD`` and kept
for the kubelet's life, with ctypes and container_init already imported, so a container start costs
one clone instead of setpriv + unshare + a fresh interpreter (~23 ms of CPU before). Standard library
only, and the low-level modules at that (``_socket``, not ``socket``, which imports enum): every
page we map is copied into each child's page tables.

Protocol, on a SOCK_SEQPACKET socket (one record per message): the kubelet sends marshal of
``(request, spec)`` with two descriptors as SCM_RIGHTS, the write end of the status pipe and the
container's log; we answer marshal of ``(request, pid, error)``, pid 0 when nothing was started.

Each container is one ``clone3(CLONE_PARENT | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS)``: the
child is PID 1 of a fresh PID namespace and, through CLONE_PARENT, a child of the kubelet, not of
us. So the kubelet waits on it, gets its exit status (a signal death as a signal) and signals it
through a pidfd as it did with ``unshare``; we keep no state per container, reap nothing, and the
containers do not depend on us living on. The child sets its parent-death signal to SIGKILL (the
kubelet dying kills the init, and so the whole namespace, as ``unshare --kill-child`` did), makes
/ private and mounts its own /proc (``--mount-proc``), starts a session, then runs container_init's
setup, status line and exec.

A raw clone from Python is sound here because this process has one thread and the call is made
holding the GIL (``PyDLL``): the child resumes as the only thread with the interpreter and the C
library consistent, and what ``os.fork`` adds (at-fork hooks, re-initialising locks of other
threads) has nothing to do. (The C library's cached thread id is still ours in the child; what runs
there before the exec, plain system calls, does not read it.) We die with the kubelet's thread (PR_SET_PDEATHSIG) and when the kubelet
closes its end of the socket.
"""

import ctypes
import marshal
import os
import select
import sys

import _socket

# -I leaves our directory out of sys.path; last, so that nothing of ours shadows a standard module
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
import container_init  # noqa: E402

PR_SET_PDEATHSIG = 1
SIGKILL = 9
CLONE_NEWNS, CLONE_PARENT, CLONE_NEWUTS, CLONE_NEWPID = 0x20000, 0x8000, 0x4000000, 0x20000000
SYS_CLONE3 = 435  # the same number on every architecture that has it
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
MAX_REQUEST = 1 << 20  # forkserver.MAX_REQUEST
FDS_PER_REQUEST = 2
INT_SIZE = 4


class CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in
                ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls")]


_syscall = ctypes.PyDLL(None, use_errno=True).syscall  # PyDLL: the GIL stays held across the clone
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.POINTER(CloneArgs), ctypes.c_size_t]
# No exit_signal: with CLONE_PARENT the child takes ours (SIGCHLD, as we were forked), and clone3
# refuses one given with that flag.
_CLONE = CloneArgs(flags=CLONE_PARENT | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS)
_libc = container_init._libc


def _prepare():
    """What ``unshare --mount --mount-proc`` did, plus the session start_new_session gave."""
    container_init._mount("none", "/", None, MS_REC | MS_PRIVATE)
    container_init._mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.setsid()


def _container(spec, status_fd, log_fd, kubelet_pidfd, sock):
    """In the clone: never returns."""
    code = 128
    try:
        _libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
        if select.select([kubelet_pidfd], [], [], 0)[0]:
            os._exit(code)  # the kubelet died before the line above: nobody would ever kill us
        sock.close()
        os.close(kubelet_pidfd)
        code = container_init.run(spec, status_fd, log_fd, prepare=_prepare)
    except BaseException as exc:  # noqa: BLE001 - whatever it was, this child must not serve requests
        os.write(2, f"sandbox: container start failed: {exc!r}\n".encode(errors="replace"))
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001
                pass
        os._exit(code)


def _received_fds(ancillary):
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % INT_SIZE
            fds += [int.from_bytes(data[i:i + INT_SIZE], sys.byteorder) for i in range(0, usable, INT_SIZE)]
    return fds


def _serve(sock, kubelet_pidfd, spec, fds):
    """One request: the reply's (pid, error)."""
    pid = _syscall(SYS_CLONE3, ctypes.byref(_CLONE), ctypes.sizeof(_CLONE))
    if pid == 0:
        _container(spec, fds[0], fds[1], kubelet_pidfd, sock)
    if pid < 0:
        return 0, f"clone3: {os.strerror(ctypes.get_errno())}"
    return pid, ""


def main():
    kubelet, sock_fd = int(sys.argv[1]), int(sys.argv[2])
    _libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    if os.getppid() != kubelet:
        return 1
    kubelet_pidfd = os.pidfd_open(kubelet)
    if os.getppid() != kubelet:  # it died between the two checks: the pidfd may name another process
        return 1
    os.set_inheritable(sock_fd, False)
    sock = _socket.socket(fileno=sock_fd)
    ancillary_size = _socket.CMSG_SPACE(FDS_PER_REQUEST * INT_SIZE)
    while True:
        try:
            data, ancillary, flags, _ = sock.recvmsg(MAX_REQUEST, ancillary_size, _socket.MSG_CMSG_CLOEXEC)
        except ConnectionError:
            return 0
        fds = _received_fds(ancillary)
        if not data and not fds:
            return 0  # the kubelet closed its end
        request = 0
        try:
            if flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC) or len(fds) != FDS_PER_REQUEST:
                raise ValueError(f"malformed request ({len(data)} bytes, {len(fds)} descriptors, flags {flags:#x})")
            request, spec = marshal.loads(data)
            pid, error = _serve(sock, kubelet_pidfd, spec, fds)
        except Exception as exc:  # a bad request must not end the server
            pid, error = 0, f"{type(exc).__name__}: {exc}"
        finally:
            for fd in fds:
                os.close(fd)
        sock.send(marshal.dumps((request, pid, error)))


if __name__ == "__main__":
    sys.exit(main())
