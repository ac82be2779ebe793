"""Run the IPAM plugin named by a configuration's ipam.type, as the spec's delegation says.

The plugin gets the same CNI_* environment and the same stdin as the calling plugin. It is found in
CNI_PATH like libcni finds plugins and executed, unless what CNI_PATH finds is pynet's own
host-local or static: that runs in-process through the same skeleton (identical output and errors),
unless PYNET_IPAM_EXEC=1 asks for a separate process.
"""

from __future__ import annotations

from .. import context
from ..invoke import cni_env, execute, find_plugin, reported_error
from ..launcher import is_own
from ..skel import handle
from ..spec import CNIError, Request, Result, parse_result
from ..spec import errors
from ..spec.fastjson import loads

IN_PROCESS = {"host-local": "cni.ipam.host_local", "static": "cni.ipam.static"}


def _env(request: Request, command: str) -> dict[str, str]:
    inv = request.invocation
    return cni_env(command, inv.container_id, inv.netns, inv.ifname, inv.args, inv.path)


def _inherited(env: dict[str, str]) -> dict[str, str]:
    """The delegated plugin's environment: the caller's, with the delegation's CNI_* variables."""
    environ = {k: v for k, v in context.environ().items() if not k.startswith("CNI_")}
    environ.update(env)
    return environ


def call(request: Request, command: str, own: bool = False) -> Result | None:
    """Run ipam.type's `command` (ADD, DEL, CHECK, GC, STATUS); ADD returns its result. `own`: pynet's
    own plugin of that type, whatever CNI_PATH holds (an IPAM step of pynet's own making)."""
    plugin_type = request.config.ipam["type"]
    env = _env(request, command)
    executable = None if own else find_plugin(plugin_type, request.path)
    if executable is None or _runs_here(executable, plugin_type):
        import importlib

        response = handle(importlib.import_module(IN_PROCESS[plugin_type]).PLUGIN, _inherited(env), request.stdin)
    else:
        response = execute(executable, env, request.stdin)
    if response.exit_code != 0:
        raise _as_error(plugin_type, response)
    if command != "ADD":
        return None
    try:
        document = loads(response.stdout)
    except ValueError:
        raise CNIError(errors.DECODE_FAILURE, f"IPAM plugin {plugin_type} printed no JSON result",
                       response.stdout[:200]) from None
    return parse_result(document, f"{plugin_type} result", request.config.cni_version)[1]


def holders(request: Request) -> set[tuple[str, str]]:
    """(container id, ifname) of each reservation ipam.type holds for the network, where its store
    can be read: host-local's files (pynet's and the reference's are the same); else none known."""
    ipam = request.config.ipam or {}
    data_dir = ipam.get("dataDir") or ""
    if ipam.get("type") != "host-local" or not isinstance(data_dir, str):
        return set()
    from .store import Store

    return {(cid, ifname) for cid, ifname in Store(data_dir, request.config.name).reservations().values() if ifname}


def _runs_here(executable: str, plugin_type: str) -> bool:
    """Is `executable` pynet's own host-local or static (then it runs in-process, unless
    PYNET_IPAM_EXEC=1 asks for a process)?"""
    return (plugin_type in IN_PROCESS and context.getenv("PYNET_IPAM_EXEC") != "1"
            and is_own(executable, plugin_type, IN_PROCESS[plugin_type]))


def _as_error(plugin_type: str, response) -> CNIError:
    error = reported_error(response)
    if error is None:
        return CNIError(errors.INTERNAL, f"IPAM plugin {plugin_type} failed without a CNI error", response.stdout[:200])
    return CNIError(error.code, f"{plugin_type}: {error.msg}", error.details)


def add(request: Request, own: bool = False) -> Result:
    """ADD through IPAM; if it fails the spec asks for a DEL before giving up, done here."""
    try:
        return call(request, "ADD", own)
    except CNIError:
        try:
            call(request, "DEL", own)
        except CNIError:
            pass
        raise
