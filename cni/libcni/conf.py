"""One attachment's runtime arguments, and the configuration each plugin of a chain gets on stdin."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..spec.env import ifname_problem, name_problem
from .errors import CNIRuntimeError


@dataclass(frozen=True)
class RuntimeConf:
    """What the runtime knows of one attachment: CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS as
    (key, value) pairs, and capability arguments (passed as runtimeConfig to plugins that declare them)."""

    container_id: str
    netns: str = ""
    ifname: str = "eth0"
    args: tuple = ()
    capability_args: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = name_problem(self.container_id) if isinstance(self.container_id, str) else "not a string"
        if problem:
            raise CNIRuntimeError(f"invalid container id {str(self.container_id)[:80]!r}: {problem}")
        problem = ifname_problem(self.ifname) if isinstance(self.ifname, str) else "not a string"
        if problem:
            raise CNIRuntimeError(f"invalid interface name {str(self.ifname)[:80]!r}: {problem}")
        if self.netns and (not self.netns.startswith("/") or "\0" in self.netns):
            raise CNIRuntimeError(f"invalid netns {self.netns[:80]!r}: it must be the absolute path of a "
                                  "network namespace file (e.g. /run/netns/NAME)")
        args = tuple(tuple(pair) for pair in self.args)
        for pair in args:
            if len(pair) != 2 or not all(isinstance(p, str) for p in pair) or not pair[0] \
                    or any(c in pair[0] for c in "=;") or ";" in pair[1]:
                raise CNIRuntimeError(f"invalid CNI_ARGS pair {pair!r}: a (key, value) of strings, no ';' "
                                      "in either and no '=' in the key")
        object.__setattr__(self, "args", args)
        if not isinstance(self.capability_args, dict):
            raise CNIRuntimeError("capability_args must be a dict of capability name to value")


def runtime_config(plugin: dict, capability_args: dict) -> dict:
    """The capability arguments this plugin declares in its `capabilities` (and only those)."""
    declared = plugin.get("capabilities")
    if not isinstance(declared, dict):
        return {}
    return {name: value for name, value in capability_args.items() if declared.get(name) is True}


def plugin_stdin(net, plugin: dict, rt: RuntimeConf | None = None, prev_result: dict | None = None,
                 extra: dict | None = None) -> bytes:
    """The plugin's configuration with the network's name and cniVersion, the prevResult, the
    runtimeConfig of its capabilities (replacing a static one, as libcni does) and `extra` keys."""
    conf = {**plugin, "name": net.name, "cniVersion": net.cni_version}
    if prev_result is not None:
        conf["prevResult"] = prev_result
    if rt is not None:
        capabilities = runtime_config(plugin, rt.capability_args)
        if capabilities:
            conf["runtimeConfig"] = capabilities
    conf.update(extra or {})
    return json.dumps(conf).encode()
