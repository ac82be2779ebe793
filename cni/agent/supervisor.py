"""`pynet agent`: one per network namespace; forks the processes that serve and watches them.

The supervisor takes the namespace's lock, binds the socket (0600), loads pynet's modules once and
forks the workers, which share those modules and the socket. It replaces a worker that dies, and
leaves when every worker has been idle for the idle timeout, when asked (SIGTERM), or when a caller
of another build arrived (the worker that met it tells the supervisor with SIGUSR1).
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import signal
import socket
import struct
import sys
import time

from .. import lockfile
from ..firewall import libnft
from . import wire
from .server import Worker, log, preload

DEFAULT_IDLE = 60.0
PR_SET_PDEATHSIG = 1
_SLOT = struct.Struct("dq")


def default_workers() -> int:
    try:
        return max(1, min(8, int(os.environ.get("PYNET_AGENT_WORKERS") or os.cpu_count() or 1)))
    except ValueError:
        return 1


class Slot:
    """One worker's activity, in memory shared with the supervisor: (last change, requests running)."""

    def __init__(self, memory: mmap.mmap, index: int) -> None:
        self.memory, self.offset = memory, index * _SLOT.size

    def record(self, active: int) -> None:
        _SLOT.pack_into(self.memory, self.offset, time.monotonic(), active)

    def read(self) -> tuple[float, int]:
        return _SLOT.unpack_from(self.memory, self.offset)


class Supervisor:
    def __init__(self, path: str, idle: float, workers: int, listener: socket.socket | None = None,
                 build: str | None = None) -> None:
        self.path = path
        self.idle = idle
        self.workers = workers
        self.build = build or wire.build_id()
        self.listener = listener
        self.managed = listener is None  # a socket of our own (not systemd's): lock, bind, unlink
        self.lock = None
        self.children: dict[int, int] = {}  # pid -> worker index
        self.stopping = False
        self.pid = os.getpid()
        self.memory = mmap.mmap(-1, _SLOT.size * workers)
        self.slots = [Slot(self.memory, n) for n in range(workers)]

    def claim(self) -> bool:
        """Take the namespace's lock and bind the socket; False if another agent serves here."""
        deadline = time.monotonic() + 5
        while (lock := lockfile.claim(self.path + ".lock")) is None:
            # the holder either serves (its socket exists) or is leaving: then wait for it
            if os.path.exists(self.path) or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        self.lock = lock
        sweep(os.path.dirname(self.path), keep=self.path)
        lockfile.mark(lock, f"{os.getpid()} {self.build}")
        self.unlink()  # a dead agent's socket: we hold the lock, nobody serves it
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)  # the socket is 0600 from the start: root only
        try:
            self.listener.bind(self.path)
        finally:
            os.umask(old)
        self.listener.listen(256)
        return True

    def unlink(self) -> None:
        if self.managed:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def release(self) -> None:
        """Remove the lock file while still holding it, then let go (claim() checks the inode)."""
        if self.managed:
            lockfile.release(self.lock, self.path + ".lock")
            self.lock = None

    def run(self) -> None:
        preload()  # before forking: the workers share the loaded modules
        log().info("pynet agent %s serving %s (netns %d, pid %d, %d workers, idle timeout %.0f s)",
                   self.build, self.path, wire.netns_id(), self.pid, self.workers, self.idle)
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGUSR1, self.stale)
        for index, slot in enumerate(self.slots):
            slot.record(0)
            self.spawn(index)
        while not self.stopping:
            time.sleep(0.2)
            self.reap(respawn=True)
            if self.all_idle():
                log().info("pynet agent idle for %.0f s: leaving", self.idle)
                break
        self.leave()

    def stop(self, *_) -> None:
        self.stopping = True

    def stale(self, *_) -> None:
        self.unlink()
        self.stopping = True

    def all_idle(self) -> bool:
        now = time.monotonic()
        return all(active == 0 and now - last > self.idle for last, active in (s.read() for s in self.slots))

    def spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = self.work(index)
            finally:
                os._exit(code)
        self.children[pid] = index

    def work(self, index: int) -> int:
        """A worker's life (in the forked child)."""
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # the supervisor gone: finish and leave
        if os.getppid() != self.pid:
            return 0

        def on_stale() -> None:
            self.unlink()  # at once: the agent the caller starts next waits for our lock, not for this socket
            os.kill(self.pid, signal.SIGUSR1)

        libnft.keep_contexts()  # this worker's own netfilter sockets, reused (see cni.firewall.libnft)
        worker = Worker(self.listener, self.build, self.slots[index], on_stale)
        signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: worker.stopping.set())
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        worker.serve_forever()
        return 0

    def reap(self, respawn: bool) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            index = self.children.pop(pid, None)
            if index is not None and respawn and not self.stopping:
                log().warning("pynet agent worker %d ended (status %d): starting another", pid, status)
                self.slots[index].record(0)
                self.spawn(index)

    def leave(self) -> None:
        """No new callers; the workers answer what is queued, finish what runs, and exit."""
        self.unlink()
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wire.DEFAULT_TIMEOUT + 10
        while self.children and time.monotonic() < end:
            self.reap(respawn=False)
            time.sleep(0.05)
        for pid in self.children:
            os.kill(pid, signal.SIGKILL)
        self.listener.close()
        self.release()


def sweep(directory: str, keep: str) -> None:
    """Remove the sockets and lock files of agents that are gone (killed with their namespace, say):
    a lock nobody holds means nobody serves that socket. (Not systemd's agent.sock: no lock of ours.)"""
    lockfile.sweep(directory, "agent-net", ".sock.lock", keep + ".lock", companion=lambda lock: lock[:-len(".lock")])


def systemd_listener() -> socket.socket | None:
    """The socket systemd passed (socket activation), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        return None
    return socket.socket(fileno=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pynet agent", description=__doc__.splitlines()[0])
    parser.add_argument("--socket", help="the socket to serve (default: this network namespace's)")
    parser.add_argument("--idle", type=float, default=float(os.environ.get("PYNET_AGENT_IDLE") or DEFAULT_IDLE),
                        help="seconds without requests before leaving (0: never)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="serving processes (default: PYNET_AGENT_WORKERS, or one per CPU, at most 8)")
    args = parser.parse_args(argv)
    idle = args.idle if args.idle > 0 else float("inf")
    listener = systemd_listener()
    supervisor = Supervisor(args.socket or wire.socket_path(), idle, max(1, args.workers), listener,
                            os.environ.get("PYNET_AGENT_BUILD"))
    if listener is None and not supervisor.claim():
        return 0  # another agent serves this namespace
    supervisor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
