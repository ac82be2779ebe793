"""Find a plugin executable in CNI_PATH and run it, as libcni's pkg/invoke does.

Shared by IPAM delegation (a plugin calling its IPAM plugin) and the runtime (cni/libcni).
"""

from __future__ import annotations

import errno
import os
import sys
import time

from . import context
from .skel import Response
from .spec import errors
from .spec.errors import CNIError
from .spec.fastjson import loads

TIMEOUT = 120.0


def find_plugin(plugin_type: str, path) -> str:
    """The executable for `plugin_type` in the CNI_PATH directories `path` (in order)."""
    path = tuple(path)
    if not plugin_type or "/" in plugin_type or "\\" in plugin_type or plugin_type in (".", ".."):
        raise CNIError(errors.INVALID_CONFIG, f"invalid plugin type {plugin_type!r}",
                       "a plugin type is the name of an executable in CNI_PATH, not a path")
    if not path:
        raise CNIError(errors.INVALID_ENVIRONMENT, f"CNI_PATH is needed to run the {plugin_type} plugin",
                       "set CNI_PATH to the directories holding the CNI plugins")
    for directory in path:
        candidate = os.path.join(directory, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CNIError(errors.INVALID_CONFIG, f"plugin {plugin_type!r} not found",
                   f"no executable {plugin_type} in CNI_PATH ({':'.join(path)})")


def cni_env(command: str, container_id: str = "", netns: str = "", ifname: str = "", args=(), path=()) -> dict:
    """The CNI_* variables of one call (empty ones left out)."""
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
           "CNI_ARGS": ";".join(f"{k}={v}" for k, v in args), "CNI_PATH": ":".join(path)}
    return {k: v for k, v in env.items() if v}


def execute(executable: str, env: dict, stdin: bytes, *, extra_env: dict | None = None, netns: str | None = None,
            capture_stderr: bool = False, timeout: float = TIMEOUT) -> Response:
    """Run `executable` with the request's environment (cni.context) minus CNI_*, plus `extra_env` and `env`.

    `netns`: a network namespace file to run the plugin in (a simulated host), entered with nsenter.
    stderr goes to ours unless `capture_stderr`. "Text file busy" (a plugin being replaced) is retried.
    It runs in the caller's working directory, as the caller's own process would (its relative paths).
    """
    environ = {k: v for k, v in context.environ().items() if not k.startswith("CNI_")}
    environ.update(extra_env or {})
    environ.update(env)
    import subprocess  # not at import time: an in-process bridge ADD never runs a program

    argv = ["nsenter", f"--net={netns}", "--", executable] if netns else [executable]
    for attempt in range(5):
        try:
            done = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE if capture_stderr else sys.stderr, env=environ,
                                  timeout=timeout, cwd=context.caller_cwd())
            return Response(stdout=done.stdout.decode("utf-8", "replace"),
                            stderr=(done.stderr or b"").decode("utf-8", "replace"), exit_code=done.returncode)
        except OSError as e:
            if e.errno != errno.ETXTBSY or attempt == 4:
                where = f"{e.filename}: " if e.filename and e.filename != argv[0] else ""  # the directory
                raise CNIError(errors.IO_FAILURE, f"cannot run {argv[0]}", where + (e.strerror or str(e))) from None
            time.sleep(0.05 * (attempt + 1))
        except subprocess.TimeoutExpired:
            raise CNIError(errors.TRY_AGAIN_LATER, f"{executable} did not answer within {timeout:g} s") from None
    raise AssertionError("unreachable")


def reported_error(response: Response) -> CNIError | None:
    """The CNI error a failed plugin printed on stdout, or None if it printed none."""
    try:
        error = loads(response.stdout)
        return CNIError(int(error["code"]), str(error.get("msg", "")), str(error.get("details", "") or ""))
    except (ValueError, KeyError, TypeError):
        return None
