"""Run the IPAM plugin named by a configuration's ipam.type, as the spec's delegation says.

The plugin gets the same CNI_* environment and the same stdin as the calling plugin. It is found in
CNI_PATH like libcni finds plugins; pynet's own IPAM types run in-process through the same
skeleton (identical output and errors) unless PYNET_IPAM_EXEC=1 asks for a separate process.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time

from .. import context
from ..skel import Response, handle
from ..spec import CNIError, Request, Result, parse_result
from ..spec import errors

IN_PROCESS = {"host-local": "cni.ipam.host_local", "static": "cni.ipam.static"}


def find_plugin(plugin_type: str, path: tuple[str, ...]) -> str:
    """The executable for `plugin_type` in the CNI_PATH directories."""
    if not path:
        raise CNIError(errors.INVALID_ENVIRONMENT, f"CNI_PATH is needed to run the {plugin_type} plugin",
                       "set CNI_PATH to the directories holding the CNI plugins")
    for directory in path:
        candidate = os.path.join(directory, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CNIError(errors.INVALID_CONFIG, f"plugin {plugin_type!r} not found",
                   f"no executable {plugin_type} in CNI_PATH ({':'.join(path)})")


def _env(request: Request, command: str) -> dict[str, str]:
    inv = request.invocation
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": inv.container_id, "CNI_NETNS": inv.netns,
           "CNI_IFNAME": inv.ifname, "CNI_ARGS": ";".join(f"{k}={v}" for k, v in inv.args),
           "CNI_PATH": ":".join(inv.path)}
    return {k: v for k, v in env.items() if v}


def _inherited(env: dict[str, str]) -> dict[str, str]:
    """The delegated plugin's environment: the caller's, with the delegation's CNI_* variables."""
    environ = {k: v for k, v in context.environ().items() if not k.startswith("CNI_")}
    environ.update(env)
    return environ


def _exec(executable: str, env: dict[str, str], stdin: bytes) -> Response:
    environ = _inherited(env)
    for attempt in range(5):
        try:
            done = subprocess.run([executable], input=stdin, stdout=subprocess.PIPE, stderr=sys.stderr,
                                  env=environ, timeout=120)
            return Response(stdout=done.stdout.decode("utf-8", "replace"), exit_code=done.returncode)
        except OSError as e:
            if e.errno != errno.ETXTBSY or attempt == 4:  # "text file busy": being replaced; retry
                raise CNIError(errors.IO_FAILURE, f"cannot run {executable}", e.strerror or str(e)) from None
            time.sleep(0.05 * (attempt + 1))
        except subprocess.TimeoutExpired:
            raise CNIError(errors.TRY_AGAIN_LATER, f"{executable} did not answer within 120 s") from None
    raise AssertionError("unreachable")


def call(request: Request, command: str) -> Result | None:
    """Run ipam.type's `command` (ADD, DEL, CHECK, GC, STATUS); ADD returns its result."""
    plugin_type = request.config.ipam["type"]
    env = _env(request, command)
    if plugin_type in IN_PROCESS and context.getenv("PYNET_IPAM_EXEC") != "1":
        import importlib

        response = handle(importlib.import_module(IN_PROCESS[plugin_type]).PLUGIN, _inherited(env), request.stdin)
    else:
        response = _exec(find_plugin(plugin_type, request.path), env, request.stdin)
    if response.exit_code != 0:
        raise _as_error(plugin_type, response.stdout)
    if command != "ADD":
        return None
    try:
        document = json.loads(response.stdout)
    except ValueError:
        raise CNIError(errors.DECODE_FAILURE, f"IPAM plugin {plugin_type} printed no JSON result",
                       response.stdout[:200]) from None
    return parse_result(document, f"{plugin_type} result", request.config.cni_version)[1]


def _as_error(plugin_type: str, stdout: str) -> CNIError:
    try:
        error = json.loads(stdout)
        return CNIError(int(error["code"]), f"{plugin_type}: {error.get('msg', '')}", str(error.get("details", "")))
    except (ValueError, KeyError, TypeError):
        return CNIError(errors.INTERNAL, f"IPAM plugin {plugin_type} failed without a CNI error", stdout[:200])


def add(request: Request) -> Result:
    """ADD through IPAM; if it fails the spec asks for a DEL before giving up, done here."""
    try:
        return call(request, "ADD")
    except CNIError:
        try:
            call(request, "DEL")
        except CNIError:
            pass
        raise
