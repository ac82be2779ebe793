"""`pynet agent`: one resident process per network namespace that answers plugin requests.

It keeps pynet's modules (pyroute2, the firewall drivers, the plugins) loaded, runs each request
in a thread of its own with the caller's environment, and leaves after an idle timeout. It serves
only root callers in its own network namespace, and only callers of its own build.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import socket
import struct
import sys
import threading
import time

from . import wire

DEFAULT_IDLE = 60.0
MAX_ACTIVE = 64  # requests running at once; more wait (up to their deadline) for a slot


class Agent:
    def __init__(self, path: str, idle: float, listener: socket.socket | None = None,
                 build: str | None = None) -> None:
        self.path = path
        self.idle = idle
        self.build = build or wire.build_id()
        self.listener = listener
        self.managed = listener is None  # a socket of our own (not systemd's): lock, bind, unlink
        self.home = wire.netns_id()
        self.home_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.slots = threading.BoundedSemaphore(MAX_ACTIVE)
        self.active = 0
        self.last = time.monotonic()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.lockfile = None

    # --- life cycle -------------------------------------------------------------------------
    def claim(self) -> bool:
        """Take the per-namespace lock and bind the socket; False if another agent serves here."""
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.lockfile = open(self.path + ".lock", "a+")
        deadline = time.monotonic() + 5
        while True:
            try:
                fcntl.flock(self.lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # the holder either serves (its socket exists) or is leaving: then wait for it
                if os.path.exists(self.path) or time.monotonic() > deadline:
                    return False
                time.sleep(0.02)
        self.lockfile.seek(0)
        self.lockfile.truncate()
        self.lockfile.write(f"{os.getpid()} {self.build}\n")
        self.lockfile.flush()
        try:
            os.unlink(self.path)  # a dead agent's socket: we hold the lock, nobody serves it
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)  # the socket is 0600 from the start: root only
        try:
            self.listener.bind(self.path)
        finally:
            os.umask(old)
        self.listener.listen(256)
        return True

    def serve_forever(self) -> None:
        log().info("pynet agent %s serving %s (netns %d, pid %d, idle timeout %.0f s)",
                   self.build, self.path, self.home, os.getpid(), self.idle)
        threading.Thread(target=preload, daemon=True).start()
        self.listener.settimeout(0.5)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                with self.lock:
                    idle = self.active == 0 and time.monotonic() - self.last > self.idle
                if idle:
                    log().info("pynet agent idle for %.0f s: leaving", self.idle)
                    break
                continue
            self.dispatch(conn)
        self.leave()

    def dispatch(self, conn: socket.socket) -> None:
        with self.lock:
            self.active += 1
            self.last = time.monotonic()
        threading.Thread(target=self.serve_one, args=(conn,), daemon=True).start()

    def unlink(self) -> None:
        if self.managed:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def leave(self) -> None:
        """Stop taking requests, answer those already queued, wait for all to finish, go."""
        if self.managed:
            self.unlink()
            self.listener.setblocking(False)
            while True:
                try:
                    conn, _ = self.listener.accept()
                except (BlockingIOError, OSError):
                    break
                conn.setblocking(True)
                self.dispatch(conn)
        self.listener.close()
        end = time.monotonic() + wire.DEFAULT_TIMEOUT
        while time.monotonic() < end:
            with self.lock:
                if self.active == 0:
                    break
            time.sleep(0.05)

    # --- one request ------------------------------------------------------------------------
    def serve_one(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(30)
                refusal = self.refusal(conn)
                fields = wire.receive(conn)
                if refusal:
                    conn.sendall(wire.pack([b"refused", b"1", _error_json(4, refusal, fields), b""]))
                    return
                answer = self.answer(fields)
                conn.settimeout(None)
                conn.sendall(wire.pack(answer))
        except EOFError:
            pass  # a caller that only looked (pynet agent status), or died before asking
        except (OSError, ValueError) as e:
            log().warning("pynet agent: a request was dropped: %s", e)
        finally:
            with self.lock:
                self.active -= 1
                self.last = time.monotonic()

    def refusal(self, conn: socket.socket) -> str:
        """Why this peer may not be served ("" if it may): root only, from our namespace only."""
        pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != 0:
            return f"the pynet agent serves root only (caller uid {uid})"
        try:
            theirs = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            return f"cannot see the caller's network namespace (pid {pid})"
        if theirs != self.home:
            return "the caller is in another network namespace than this agent serves"
        return ""

    def answer(self, fields: list[bytes]) -> list[bytes]:
        if len(fields) != 6 or fields[0] != wire.MAGIC:
            raise ValueError("not a pynet agent request")
        _, build, plugin, deadline, env, stdin = fields
        if build.decode() != self.build:
            log().info("pynet agent: a caller of build %s: stepping down", build.decode())
            self.unlink()  # at once: the agent the caller starts next waits for our lock, not for this socket
            self.stopping.set()
            return [b"stale", b"1", b"", b""]
        remaining = float(deadline) - time.time()
        if remaining <= 0 or not self.slots.acquire(timeout=remaining):
            return [b"ok", b"1", _error_json(11, "the pynet agent is busy: the request's deadline passed", fields), b""]
        env = wire.decode_env(env)
        started = time.monotonic()
        done: list = []

        def work() -> None:
            try:
                done.append(run_request(plugin.decode(), env, stdin))
            except BaseException as e:  # noqa: BLE001 - handle() never raises; loading a plugin might
                from ..skel import Response

                done.append(Response(_error_json(100, f"the pynet agent failed: {e}", fields).decode(), "", 1))
            finally:
                self.slots.release()
                self.back_home()

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        worker.join(max(0.0, float(deadline) - time.time()))
        if not done:  # it goes on in its thread; the runtime's DEL (or GC) cleans up what it did
            log().warning("%s %s container %s missed its deadline", plugin.decode(), env.get("CNI_COMMAND"),
                          env.get("CNI_CONTAINERID"))
            return [b"ok", b"1", _error_json(11, "the request did not finish within its deadline "
                                                 "(PYNET_AGENT_TIMEOUT); it may finish later", fields), b""]
        response = done[0]
        log().debug("served %s %s container %s: exit %d in %.1f ms", plugin.decode(), env.get("CNI_COMMAND"),
                    env.get("CNI_CONTAINERID"), response.exit_code, (time.monotonic() - started) * 1000)
        return [b"ok", str(response.exit_code).encode(), response.stdout.encode(), response.stderr.encode()]

    def back_home(self) -> None:
        """Every request thread ends in the agent's own namespace, or the agent stops (cannot happen
        while cni.kernel.netns.entered() restores it; this guards against a future bug)."""
        if wire.netns_id() != self.home:
            log().critical("pynet agent: a request left its thread in another network namespace")
            os._exit(70)


def run_request(plugin: str, env: dict[str, str], stdin: bytes):
    from ..plugins import PLUGINS, load
    from ..skel import handle

    if plugin not in PLUGINS:
        from ..skel import Response

        return Response(_error_json(4, f"the pynet agent has no plugin {plugin!r}", [b""] * 6).decode(), "", 1)
    return handle(load(plugin), env, stdin)


def _error_json(code: int, message: str, fields: list[bytes]) -> bytes:
    from ..skel import _error
    from ..spec.errors import CNIError

    stdin = fields[5] if len(fields) == 6 else b""
    return _error(CNIError(code, message), stdin).stdout.encode()


def preload() -> None:
    """Import what requests need, so the first one does not pay for it."""
    import importlib

    from ..plugins import PLUGINS, load

    for name in PLUGINS:
        importlib.import_module(load(name).commands)
    for module in ("cni.firewall.nftables", "cni.firewall.iptables", "cni.ipam.delegate"):
        importlib.import_module(module)


def log():
    from ..log import logger

    return logger()


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
    args = parser.parse_args(argv)
    idle = args.idle if args.idle > 0 else float("inf")
    listener = systemd_listener()
    agent = Agent(args.socket or wire.socket_path(), idle, listener, os.environ.get("PYNET_AGENT_BUILD"))
    if listener is None and not agent.claim():
        return 0  # another agent serves this namespace
    signal.signal(signal.SIGTERM, lambda *_: agent.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stopping.set())
    agent.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
