"""A serving process of the agent: answers plugin requests, each in a thread of its own.

Requests run with the caller's environment and working directory in the process's own network
namespace; only root callers in that namespace, and only callers of the same build, are served.
A caller that gives up (its deadline passes, or it goes away) gets nothing done behind its back:
its ADD rolls back (cni.context.Cancellation). `supervisor` forks these processes (one per CPU, so
requests also run in parallel beyond one interpreter lock).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time

from ..context import Cancellation
from . import wire

MAX_ACTIVE = 64  # requests running at once; more wait (up to their deadline) for a slot
WATCH = 0.25  # seconds between looks at whether a request's caller is still there


class Worker:
    """One serving process: accepts on the shared socket, one thread per request."""

    def __init__(self, listener: socket.socket, build: str, slot, on_stale) -> None:
        self.listener = listener
        self.build = build
        self.slot = slot
        self.on_stale = on_stale
        self.home = wire.netns_id()
        self.slots = threading.BoundedSemaphore(MAX_ACTIVE)
        self.active = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def serve_forever(self) -> None:
        self.listener.settimeout(0.5)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:  # the supervisor closed the socket
                break
            self.dispatch(conn)
        self.drain()

    def dispatch(self, conn: socket.socket) -> None:
        with self.lock:
            self.active += 1
            self.slot.record(self.active)
        threading.Thread(target=self.serve_one, args=(conn,), daemon=True).start()

    def drain(self) -> None:
        """Answer the connections already queued, then wait for every request to finish."""
        try:
            self.listener.setblocking(False)
            while True:
                conn, _ = self.listener.accept()
                conn.setblocking(True)
                self.dispatch(conn)
        except OSError:
            pass
        end = time.monotonic() + wire.DEFAULT_TIMEOUT
        while time.monotonic() < end:
            with self.lock:
                if self.active == 0:
                    return
            time.sleep(0.05)

    # --- one request ------------------------------------------------------------------------
    def serve_one(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(30)
                pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
                refusal = self.refusal(pid, uid)
                fields = wire.receive(conn)
                if refusal:
                    conn.sendall(wire.pack([b"refused", b"1", _error_json(4, refusal, fields), b""]))
                    return
                answer = self.answer(fields, conn, _cwd_of(pid))
                if answer is not None:
                    conn.settimeout(None)
                    conn.sendall(wire.pack(answer))
        except EOFError:
            pass  # a caller that only looked (pynet agent status), or died before asking
        except (OSError, ValueError) as e:
            log().warning("pynet agent: a request was dropped: %s", e)
        finally:
            with self.lock:
                self.active -= 1
                self.slot.record(self.active)

    def refusal(self, pid: int, uid: int) -> str:
        """Why this peer may not be served ("" if it may): root only, from our namespace only."""
        if uid != 0:
            return f"the pynet agent serves root only (caller uid {uid})"
        try:
            theirs = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            return f"cannot see the caller's network namespace (pid {pid})"
        if theirs != self.home:
            return "the caller is in another network namespace than this agent serves"
        return ""

    def answer(self, fields: list[bytes], conn: socket.socket, cwd: str) -> list[bytes] | None:
        """The answer to send (None: the caller is gone)."""
        if len(fields) != 6 or fields[0] != wire.MAGIC:
            raise ValueError("not a pynet agent request")
        _, build, plugin, deadline, env, stdin = fields
        if build.decode() != self.build:
            log().info("pynet agent: a caller of build %s: stepping down", build.decode())
            self.on_stale()
            return [b"stale", b"1", b"", b""]
        deadline = float(deadline)
        remaining = deadline - time.time()
        if remaining <= 0 or not self.slots.acquire(timeout=remaining):
            return [b"ok", b"1", _error_json(11, "the pynet agent is busy: the request's deadline passed", fields), b""]
        env = wire.decode_env(env)
        what = f"{plugin.decode()} {env.get('CNI_COMMAND')} container {env.get('CNI_CONTAINERID')}"
        started = time.monotonic()
        cancel = Cancellation()
        done: list = []

        def work() -> None:
            try:
                done.append(run_request(plugin.decode(), env, stdin, cwd, cancel))
            except BaseException as e:  # noqa: BLE001 - handle() never raises; loading a plugin might
                from ..skel import Response

                done.append(Response(_error_json(100, f"the pynet agent failed: {e}", fields).decode(), "", 1))
            finally:
                self.slots.release()
                self.back_home()
                if cancel.cancelled:
                    log().warning("%s: its caller gave up; ended with exit %d (an ADD rolls back)", what,
                                  done[0].exit_code if done else -1)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        gone = _gone(conn)
        while worker.is_alive() and time.time() < deadline and not gone():
            worker.join(min(WATCH, max(0.0, deadline - time.time())))
        if not done and cancel.cancel():
            if time.time() < deadline:
                log().warning("%s: the caller went away", what)
                return None
            log().warning("%s missed its deadline", what)
            return [b"ok", b"1", _error_json(11, "the request did not finish within its deadline "
                                                 "(PYNET_AGENT_TIMEOUT); it is rolled back", fields), b""]
        worker.join()  # done, or committed a moment ago: its answer is being rendered
        response = done[0]
        log().debug("served %s: exit %d in %.1f ms", what, response.exit_code, (time.monotonic() - started) * 1000)
        return [b"ok", str(response.exit_code).encode(), response.stdout.encode(), response.stderr.encode()]

    def back_home(self) -> None:
        """Every request thread ends in the agent's own namespace, or the process stops (cannot
        happen while cni.kernel.netns.entered() restores it; this guards against a future bug)."""
        if wire.netns_id() != self.home:
            log().critical("pynet agent: a request left its thread in another network namespace")
            os._exit(70)


def run_request(plugin: str, env: dict[str, str], stdin: bytes, cwd: str | None = None,
                cancel: Cancellation | None = None):
    from ..plugins import PLUGINS, load
    from ..skel import handle

    if plugin not in PLUGINS:
        from ..skel import Response

        return Response(_error_json(4, f"the pynet agent has no plugin {plugin!r}", [b""] * 6).decode(), "", 1)
    return handle(load(plugin), env, stdin, cwd, cancel)


def _cwd_of(pid: int) -> str:
    """The caller's working directory, against which its configuration's relative paths resolve
    ("" if it cannot be known): the path the caller itself sees (its own root taken off), when it
    names the same directory here; else the kernel's way into it, valid while the caller waits.

    A caller in another mount namespace and root (a runtime in a chroot, the VM lab's hostrun)
    has /proc/PID/cwd read as a path from its namespace's root, which names nothing here."""
    link = f"/proc/{pid}/cwd"
    try:
        cwd, root, actual = os.readlink(link), os.readlink(f"/proc/{pid}/root"), os.stat(link)
    except OSError:
        return ""
    if cwd.endswith(" (deleted)"):
        return ""
    inside = cwd
    if root != "/" and (cwd + "/").startswith(root + "/"):
        inside = cwd[len(root):] or "/"
    for candidate in dict.fromkeys((inside, cwd)):
        try:
            if os.path.samestat(os.stat(candidate), actual):
                return candidate
        except OSError:
            pass
    return link


def _gone(conn: socket.socket):
    """A test of whether the caller hung up (it sends nothing more after its request)."""
    watch = select.poll()
    watch.register(conn, select.POLLIN | select.POLLRDHUP)
    return lambda: bool(watch.poll(0))


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
