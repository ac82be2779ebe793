"""A container's namespace holder: PID 1 of its PID namespace, alive from `run` until `rm`.

Run as a script (standard library only, so it starts fast and imports nothing of pynet):

    python -I holder.py --hostname NAME [--rootfs DIR] [--net new|host|PATH]

It unshares the mount, UTS, IPC and PID namespaces (and the network namespace with `new`, or joins
the one at PATH), forks PID 1 of the new PID namespace, prints that child's PID (as the host sees
it) and exits; the child sets the hostname, brings `lo` up in a new network namespace, mounts a
fresh /proc (inside DIR with --rootfs), chroots into DIR, closes stdout (the runtime reads "ready"
from its EOF) and then only reaps orphans until it is killed. Commands join it with nsenter; when
it dies, the kernel kills every process of the container.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x4000000, 0x8000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH", b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def _init(hostname: str, rootfs: str, own_net: bool) -> None:
    """PID 1 of the container: prepare the namespaces, then reap until killed."""
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    name = hostname.encode()
    _check(_libc.sethostname(name, len(name)), "sethostname")
    if own_net:
        _loopback_up()
    root = rootfs or "/"
    proc = os.path.join(root, "proc")
    if os.path.isdir(proc):
        _check(_libc.mount(b"proc", proc.encode(), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount proc")
    os.chdir(root)
    if rootfs:
        os.chroot(".")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGCHLD, _reap)
    _reap()  # orphans that came before the handler
    os.close(1)
    while True:
        signal.pause()


def _reap(*_) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pynet-holder")
    p.add_argument("--hostname", required=True)
    p.add_argument("--rootfs", default="")
    p.add_argument("--net", default="new", help="new, host or the path of a network namespace to join")
    args = p.parse_args(argv)
    try:
        child = _fork_holder(args)
    except OSError as e:
        print(f"error: {e}", flush=True)
        return 1
    if child:
        print(child, flush=True)
    return 0


def _fork_holder(args) -> int:
    """Enter the new namespaces and fork PID 1 of the PID namespace; its PID in the parent."""
    flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID
    if args.net == "new":
        flags |= CLONE_NEWNET
    elif args.net != "host":
        fd = os.open(args.net, os.O_RDONLY | os.O_CLOEXEC)
        _check(_libc.setns(fd, CLONE_NEWNET), f"join {args.net}")
        os.close(fd)
    _check(_libc.unshare(flags), "unshare")
    child = os.fork()
    if child == 0:
        try:
            _init(args.hostname, args.rootfs, args.net == "new")
        except BaseException as e:  # noqa: BLE001 - the runtime reports this line
            print(f"error: {e}", flush=True)
            os._exit(1)
    return child


if __name__ == "__main__":
    sys.exit(main())
