"""`pynet agent run|status|stop`: the resident agent that plugin executables hand their requests to."""

from __future__ import annotations

import fcntl
import os
import signal
import socket

from ..agent import wire
from .output import emit


def lock_holder(path: str) -> tuple[int, str] | None:
    """(pid, build) of the agent holding the socket's lock, or None if no agent holds it."""
    try:
        with open(path + ".lock") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return None  # nobody holds it
            except BlockingIOError:
                pid, build = (f.read().split() + ["0", "?"])[:2]
                return int(pid), build
    except (OSError, ValueError):
        return None


def status(path: str) -> dict:
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.connect(path)
        listening = True
    except OSError:
        listening = False
    finally:
        sock.close()
    holder = lock_holder(path)
    ours = wire.build_id()
    return {"socket": path, "listening": listening, "pid": holder[0] if holder else None,
            "build": holder[1] if holder else None, "current": bool(holder) and holder[1] == ours,
            "this build": ours}


def command_run(args) -> int:
    from ..agent.supervisor import main as serve

    return serve((["--socket", args.socket] if args.socket else []) + ["--idle", str(args.idle)])


def command_status(args) -> int:
    row = status(args.socket or wire.socket_path())
    emit([row], [("socket", "SOCKET"), ("listening", "LISTENING"), ("pid", "PID"), ("build", "BUILD"),
                 ("current", "CURRENT")], args.format)
    return 0 if row["listening"] else 3


def command_stop(args) -> int:
    path = args.socket or wire.socket_path()
    holder = lock_holder(path)
    if holder is None:
        raise RuntimeError(f"no pynet agent serves {path}")
    os.kill(holder[0], signal.SIGTERM)  # it finishes the requests it has, then leaves
    return 0


def register(sub, common) -> None:
    parser = sub.add_parser("agent", parents=[common], help="the resident agent that answers the plugins (fast path)")
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", parents=[common],
                             help="serve this network namespace in the foreground (systemd, or by hand)")
    run.add_argument("--idle", type=float, default=0, help="leave after this many idle seconds (default 0: never)")
    run.set_defaults(run=command_run)
    for name, function, text in (("status", command_status, "is an agent serving this network namespace?"),
                                 ("stop", command_stop, "ask this network namespace's agent to leave")):
        action = actions.add_parser(name, parents=[common], help=text)
        action.set_defaults(run=function)
    for action in actions.choices.values():
        action.add_argument("--socket", help="the agent's socket (default: this network namespace's)")
