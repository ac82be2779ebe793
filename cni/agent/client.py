"""A plugin process's side of the agent: send the request, print the answer (standard library only).

`call()` returns the agent's Response, or None when the caller should run the request itself: no
agent is up yet (one is started for the next calls), the agent is of another build (it steps
down), or the socket is not ours to use. Once a request has been handed over, the caller never runs
it again: if the agent dies or misses the deadline, the answer is CNI error 11 (try again later),
and the host is left as a failed ADD in the plugin process would leave it, for DEL or GC to clean.
"""

from __future__ import annotations

import os
import sys

from ..spec.limits import MAX_CONFIG_BYTES
from . import AGENT_COMMANDS, write


def main(plugin: str, module: str) -> int:
    """A plugin executable's entry point (see `pynet plugins install`): the request goes to the agent
    when one takes it, with nothing imported beyond this module; otherwise the plugin's module is
    imported and runs it here."""
    command = os.environ.get("CNI_COMMAND", "")
    stdin = None
    if command in AGENT_COMMANDS and os.environ.get("PYNET_AGENT", "") != "off":
        try:
            # one byte past the limit is enough to refuse it (and /dev/zero as stdin ends)
            stdin = sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1) if sys.stdin is not None else b""
        except OSError:
            stdin = None  # the plugin reports it
        else:
            answer = call(plugin, os.environ, stdin)
            if answer is not None:
                write(sys.stdout, answer[0])
                write(sys.stderr, answer[1])
                return answer[2]
    from ..kernel import background

    background.mark_one_shot()
    background.exit_now(__import__(module, fromlist=["PLUGIN"]).PLUGIN.main(stdin=stdin, agent=False))  # (importlib: ~0.5 ms)


def call(plugin: str, env, stdin: bytes):
    """The agent's answer (stdout, stderr, exit code), or None: run the request in this process."""
    import _socket  # not `socket`: its enum and selectors imports cost more than the whole call
    import time

    from . import wire  # (here: VERSION, answered without the agent, needs none of these)

    path = wire.socket_path(env)
    timeout = _timeout(env)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            start(env, path)
            return None
        except OSError:  # not root (0600 socket), path too long, ...: run in this process
            return None
        sock.settimeout(timeout + 5)
        build = wire.build_id().encode()
        try:
            sock.sendall(wire.pack([wire.MAGIC, build, plugin.encode(), repr(time.time() + timeout).encode(),
                                    wire.encode_env(env), stdin]))
            answer = wire.receive(sock)
        except TimeoutError:
            return _try_again(stdin, f"the pynet agent did not answer within {timeout:.0f} s")
        except (EOFError, ValueError, OSError) as e:
            return _try_again(stdin, f"the pynet agent went away during the request ({e})")
    finally:
        sock.close()
    status, code, stdout, stderr = (answer + [b""] * 4)[:4]
    if status == b"stale":  # another build: it steps down; this call runs here, and a new one starts
        start(env, path)
        return None
    return stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"), int(code or 1)


def _timeout(env) -> float:
    from . import wire

    try:
        return float(env.get("PYNET_AGENT_TIMEOUT") or wire.DEFAULT_TIMEOUT)
    except ValueError:
        return wire.DEFAULT_TIMEOUT


def _try_again(stdin: bytes, message: str):
    from ..spec.errors import TRY_AGAIN_LATER, CNIError
    from ..spec.versions import error_version

    error = CNIError(TRY_AGAIN_LATER, message, "the request may have been done in part; the runtime's DEL (or GC) "
                     "cleans it up")
    return error.output(error_version(stdin)), "", 1


def start(env, path: str) -> None:
    """Start an agent for this network namespace in the background (it exits if one is up)."""
    if env.get("PYNET_AGENT") == "manual":  # started by systemd or by hand only
        return
    import subprocess

    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    keep = ("PATH", "PYNET_LOG_FILE", "PYNET_DEBUG", "PYNET_RUN_DIR", "PYNET_AGENT_IDLE", "PYNET_AGENT_WORKERS")
    agent_env = {k: env[k] for k in keep if k in env}
    agent_env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    agent_env["PYTHONPATH"] = package_parent
    log = env.get("PYNET_LOG_FILE") or os.devnull
    try:
        with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
            subprocess.Popen([sys.executable, "-m", "cni.agent.supervisor", "--socket", path], stdin=devnull,
                             stdout=out, stderr=out, env=agent_env, start_new_session=True, close_fds=True,
                             cwd="/")
    except OSError:
        pass  # no agent this time: the caller runs in-process anyway
