"""Start, reload and stop the DNS server of a network namespace (what the dnsname plugin calls).

One server per namespace: it holds the flock of $PYNET_RUN_DIR/dns-net<netns inode>.lock (its pid
written in it; "starting" before that) for as long as it serves. ensure_running() takes that lock
and hands it to a new server when nobody holds it; a server leaving removes the file while it still
holds it, then looks at the records once more (records written meanwhile get a server: it, or the
caller's). Nothing else takes the lock but for a moment (sweep), and callers wait that out.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from .. import lockfile
from ..agent import wire
from ..context import environ
from ..kernel.background import start_detached
from ..lockfile import claim, release  # noqa: F401 - also the server's, as daemon.claim/release
from .records import directory

PASSED = ("PYNET_RUN_DIR", "PYNET_DNS_RESOLV_CONF", "PYNET_LOG_FILE", "PYNET_DEBUG")
STARTING = "starting"  # what the lock says between ensure_running() and the server's own pid
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def netns_inode(netns: str = "") -> int:
    return os.stat(netns or "/proc/thread-self/ns/net").st_ino


def lock_path(netns: str = "") -> str:
    return os.path.join(wire.run_dir(environ()), f"dns-net{netns_inode(netns)}.lock")


def mark(handle, text: str = "") -> None:
    """Write this process's pid (or `text`) in the lock it holds."""
    lockfile.mark(handle, text or str(os.getpid()))


def running(netns: str = "") -> int | None:
    """The pid of the server of the namespace (this one by default), None if none serves. (It does
    not take the lock to find out: a caller of ensure_running() at that moment would find it taken.)"""
    pid = _holder(lock_path(netns))
    return pid if isinstance(pid, int) else None


def _holder(path: str) -> int | str | None:
    """What the lock file says: a live server's pid, "starting", or None (nobody, or a dead one)."""
    try:
        with open(path) as f:
            word = f.read().split()[0]
        if word == STARTING:
            return word
        with open(f"/proc/{int(word)}/cmdline", "rb") as f:
            return int(word) if b"cni.dns.server" in f.read() else None
    except (OSError, ValueError, IndexError):
        return None


def ensure_running(netns: str = "", records: str | None = None) -> bool:
    """Start the server of the namespace at `netns` (this thread's by default) unless one serves
    there; True if one was started. Call it after writing the records (see the module docstring)."""
    path = lock_path(netns)
    end = time.monotonic() + 1.0
    while (handle := claim(path)) is None:
        if _holder(path) is not None or time.monotonic() > end:
            return False
        time.sleep(0.01)  # held by no server: a sweep looking at it, or a server that is leaving
    mark(handle, STARTING)
    sweep(os.path.dirname(path), keep=path)
    try:
        # -S: no site-packages (the server needs none; ~3 ms of its start), pynet from PYTHONPATH
        argv = [sys.executable, "-S", "-m", "cni.dns.server", "--lock-fd", str(handle.fileno()),
                "--records", records or directory()]
        caller = environ()  # the request's own (a caller of the agent's)
        env = {**os.environ, **{k: v for k, v in caller.items() if k in PASSED}, "PYTHONPATH": PACKAGE_PARENT}
        _spawn(argv, env, netns, handle.fileno())
    finally:
        handle.close()  # the server holds it now (the same open file)
    return True


def sweep(directory: str, keep: str) -> None:
    """Remove the lock files of servers that are gone without leaving (killed with their namespace)."""
    lockfile.sweep(directory, "dns-net", ".lock", keep)


def _spawn(argv: list[str], env: dict, netns: str, keep: int) -> None:
    """Run `argv` detached (background.start_detached), in `netns`, with the file `keep` open."""
    def run() -> None:
        os.set_inheritable(keep, True)
        if netns:
            from ..kernel.netns import join  # (not imported by the server, which imports this module)

            join(netns)
        os.execve(argv[0], argv, env)

    start_detached(run, keep=(keep,))


def reload(netns: str = "") -> bool:
    """Ask the namespace's server to read the records again now (it also sees changes by itself)."""
    return _signal(netns, signal.SIGHUP)


def stop(netns: str = "") -> bool:
    return _signal(netns, signal.SIGTERM)


def _signal(netns: str, number: int) -> bool:
    pid = running(netns)
    if pid is None:
        return False
    try:
        os.kill(pid, number)
        return True
    except ProcessLookupError:
        return False


def probe(gateway: str, name: str, qtype: int = 1, timeout: float = 1.0) -> tuple[int, list[str]] | None:
    """Ask the server on `gateway` (from this thread's namespace: the host, whose address on the
    network is the gateway) for `name`: (rcode, the answers as text), None if nothing answers in
    `timeout` seconds. What the dnsname plugin's CHECK asks."""
    import secrets
    import socket

    from . import message as m

    id = secrets.randbelow(65536)
    family = socket.AF_INET6 if ":" in gateway else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.connect((gateway, 53))
            sock.send(m.query(name, qtype, id=id))
            while True:
                got, flags, _, found = m.answers(sock.recv(4096))
                if got == id:
                    return flags & 0xF, [value for _, value in found]
    except (OSError, ValueError, m.Drop, m.Malformed):
        return None
