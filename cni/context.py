"""The environment of the request being handled.

A plugin process handles one request with its own environment; the resident agent handles many at
once, each with the environment its caller sent. Code that reads a PYNET_* knob (or passes the
environment on to a delegated plugin) asks here instead of os.environ, so both ways see the same.
"""

from __future__ import annotations

import contextvars
import os

_ENVIRON: contextvars.ContextVar = contextvars.ContextVar("pynet_environ", default=None)


def environ():
    """The current request's environment (os.environ outside a request)."""
    env = _ENVIRON.get()
    return os.environ if env is None else env


def getenv(name: str, default: str | None = None) -> str | None:
    return environ().get(name, default)


def using(env):
    """Make `env` the current request's environment; returns a token for reset()."""
    return _ENVIRON.set(env)


def reset(token) -> None:
    _ENVIRON.reset(token)
