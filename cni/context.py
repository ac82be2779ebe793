"""The request being handled: its environment, its caller's working directory, whether its caller
still waits for the answer.

A plugin process handles one request with its own environment; the resident agent handles many at
once, each with the environment its caller sent. Code that reads a PYNET_* knob (or passes the
environment on to a delegated plugin) asks here instead of os.environ, so both ways see the same;
so does code that resolves a relative path of the configuration (the caller's directory, not the
agent's) and the undo log, which stops an ADD whose caller gave up.
"""

from __future__ import annotations

import contextvars
import os

_ENVIRON: contextvars.ContextVar = contextvars.ContextVar("pynet_environ", default=None)
_CWD: contextvars.ContextVar = contextvars.ContextVar("pynet_cwd", default=None)
_CANCEL: contextvars.ContextVar = contextvars.ContextVar("pynet_cancel", default=None)


def environ():
    """The current request's environment (os.environ outside a request)."""
    env = _ENVIRON.get()
    return os.environ if env is None else env


def getenv(name: str, default: str | None = None) -> str | None:
    return environ().get(name, default)


def using(env, cwd: str | None = None, cancel: "Cancellation | None" = None):
    """Make `env` the current request's environment, and `cwd` and `cancel` its caller's working
    directory ("" if unknown) and Cancellation when given (a nested request keeps its parent's).
    Returns a token for reset()."""
    tokens = [(_ENVIRON, _ENVIRON.set(env))]
    if cwd is not None:
        tokens.append((_CWD, _CWD.set(cwd)))
    if cancel is not None:
        tokens.append((_CANCEL, _CANCEL.set(cancel)))
    return tokens


def reset(token) -> None:
    for var, one in reversed(token):
        var.reset(one)


def caller_cwd() -> str | None:
    """The caller's working directory when it is not this process's (the agent's callers), else None."""
    return _CWD.get() or None


def caller_path(path: str) -> str:
    """`path` of the configuration as its caller means it: a relative path is relative to the caller's
    working directory, as for the reference plugins (the runtime's), in a plugin process and in the
    agent alike."""
    if os.path.isabs(path):
        return path
    cwd = _CWD.get()
    try:
        cwd = os.getcwd() if cwd is None else cwd
    except FileNotFoundError:
        cwd = ""
    if not cwd:
        from .spec.errors import IO_FAILURE, CNIError

        raise CNIError(IO_FAILURE, f"cannot resolve the relative path {path[:80]!r}",
                       "the caller's working directory is gone; use an absolute path")
    return os.path.join(cwd, path)


class Cancellation:
    """Whether a request's caller still waits: the agent's callers can give up (deadline, disconnect).

    An ADD commits when it is done; one whose caller gave up first must not stay behind the runtime's
    back: the undo log stops it at its next step (cancelled()), and one that finished anyway is undone.
    """

    def __init__(self) -> None:
        import threading  # not at import time: only the agent makes these

        self._lock = threading.Lock()
        self._state = "running"

    def cancel(self) -> bool:
        """The caller gave up: True if the request had not committed (it will be undone)."""
        with self._lock:
            if self._state == "running":
                self._state = "cancelled"
            return self._state == "cancelled"

    def commit(self) -> bool:
        """The request is done: True if its caller still waits (and gets the answer)."""
        with self._lock:
            if self._state == "running":
                self._state = "committed"
            return self._state == "committed"

    @property
    def cancelled(self) -> bool:
        return self._state == "cancelled"


def cancelled() -> bool:
    """True when the current request's caller gave up."""
    cancel = _CANCEL.get()
    return cancel is not None and cancel.cancelled
