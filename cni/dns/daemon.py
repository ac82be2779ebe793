"""Start, reload and stop the DNS server of a network namespace (what the dnsname plugin calls).

One server per namespace: it holds the flock of $PYNET_RUN_DIR/dns-net<netns inode>.lock (its pid
written in it; "starting" before that) for as long as it serves. ensure_running() takes that lock
and hands it to a new server when nobody holds it; a server leaving removes the file while it still
holds it, then looks at the records once more (records written meanwhile get a server: it, or the
caller's). Nothing else takes the lock but for a moment (sweep), and callers wait that out.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time

from ..agent import wire
from ..context import environ
from .records import directory

PASSED = ("PYNET_RUN_DIR", "PYNET_DNS_RESOLV_CONF", "PYNET_LOG_FILE", "PYNET_DEBUG")
STARTING = "starting"  # what the lock says between ensure_running() and the server's own pid


def netns_inode(netns: str = "") -> int:
    return os.stat(netns or "/proc/thread-self/ns/net").st_ino


def lock_path(netns: str = "") -> str:
    return os.path.join(wire.run_dir(environ()), f"dns-net{netns_inode(netns)}.lock")


def claim(path: str):
    """The lock at `path`, held (a file object), or None if a server holds it."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        try:
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
                return handle
        except FileNotFoundError:
            pass
        handle.close()  # a leaving server removed the file we locked: lock the new one


def mark(handle, text: str = "") -> None:
    """Write this process's pid (or `text`) in the lock it holds."""
    handle.seek(0)
    handle.truncate()
    handle.write(f"{text or os.getpid()}\n")
    handle.flush()


def release(handle, path: str) -> None:
    """Remove the lock file at `path` while holding it, then let go (claim() checks the inode)."""
    if handle is None:
        return
    try:
        if os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
            os.unlink(path)
    except FileNotFoundError:
        pass
    handle.close()


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
        argv = [sys.executable, "-m", "cni.dns.server", "--lock-fd", str(handle.fileno()),
                "--records", records or directory()]
        caller = environ()  # the request's own (a caller of the agent's)
        env = {**os.environ, **{k: v for k, v in caller.items() if k in PASSED}}
        _spawn(argv, env, netns, handle.fileno())
    finally:
        handle.close()  # the server holds it now (the same open file)
    return True


def sweep(directory: str, keep: str) -> None:
    """Remove the lock files of servers that are gone without leaving (killed with their namespace)."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name.startswith("dns-net") and name.endswith(".lock") and path != keep:
            release(claim(path), path)  # (None, held: a server serves there)


def _spawn(argv: list[str], env: dict, netns: str, keep: int) -> None:
    """Run `argv` detached (its own session, a grandchild: no zombie left to the caller), in `netns`."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.set_inheritable(keep, True)
                os.closerange(3, keep)
                os.closerange(keep + 1, 1 << 16)
                if netns:
                    from ..kernel.netns import join

                    join(netns)
                os.execve(argv[0], argv, env)
            code = 0
        finally:
            os._exit(code)
    os.waitpid(pid, 0)


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
