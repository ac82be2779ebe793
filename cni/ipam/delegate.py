"""Run the IPAM plugin named by a configuration's ipam.type, as the spec's delegation says.

The plugin gets the same CNI_* environment and the same stdin as the calling plugin. It is found in
CNI_PATH like libcni finds plugins; pynet's own IPAM types run in-process through the same
skeleton (identical output and errors) unless PYNET_IPAM_EXEC=1 asks for a separate process.
"""

from __future__ import annotations

import json
import os

from ..invoke import cni_env, execute, find_plugin, reported_error
from ..skel import handle
from ..spec import CNIError, Request, Result, parse_result
from ..spec import errors

IN_PROCESS = {"host-local": "cni.ipam.host_local", "static": "cni.ipam.static"}


def _env(request: Request, command: str) -> dict[str, str]:
    inv = request.invocation
    return cni_env(command, inv.container_id, inv.netns, inv.ifname, inv.args, inv.path)


def call(request: Request, command: str) -> Result | None:
    """Run ipam.type's `command` (ADD, DEL, CHECK, GC, STATUS); ADD returns its result."""
    plugin_type = request.config.ipam["type"]
    env = _env(request, command)
    if plugin_type in IN_PROCESS and os.environ.get("PYNET_IPAM_EXEC") != "1":
        import importlib

        response = handle(importlib.import_module(IN_PROCESS[plugin_type]).PLUGIN, env, request.stdin)
    else:
        response = execute(find_plugin(plugin_type, request.path), env, request.stdin)
    if response.exit_code != 0:
        raise _as_error(plugin_type, response)
    if command != "ADD":
        return None
    try:
        document = json.loads(response.stdout)
    except ValueError:
        raise CNIError(errors.DECODE_FAILURE, f"IPAM plugin {plugin_type} printed no JSON result",
                       response.stdout[:200]) from None
    return parse_result(document, f"{plugin_type} result", request.config.cni_version)[1]


def _as_error(plugin_type: str, response) -> CNIError:
    error = reported_error(response)
    if error is None:
        return CNIError(errors.INTERNAL, f"IPAM plugin {plugin_type} failed without a CNI error", response.stdout[:200])
    return CNIError(error.code, f"{plugin_type}: {error.msg}", error.details)


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
