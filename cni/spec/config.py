"""The network configuration a plugin reads on stdin: decoded and validated, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import MappingProxyType

from .env import name_problem
from .errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, CNIError, invalid_config
from .result import DNS, Result, parse_dns, parse_result
from .versions import SUPPORTED

_EMPTY = MappingProxyType({})
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


@dataclass(frozen=True)
class Attachment:
    """One (container id, ifname) pair of GC's cni.dev/valid-attachments."""

    container_id: str
    ifname: str


@dataclass(frozen=True)
class NetConf:
    """The well-known keys of a plugin's configuration; `raw` keeps every key for the plugin."""

    cni_version: str
    name: str
    type: str
    raw: MappingProxyType = field(default_factory=lambda: _EMPTY)
    args: MappingProxyType = field(default_factory=lambda: _EMPTY)
    ip_masq: bool = False
    ipam: MappingProxyType | None = None
    dns: DNS = DNS()
    capabilities: MappingProxyType = field(default_factory=lambda: _EMPTY)
    runtime_config: MappingProxyType = field(default_factory=lambda: _EMPTY)
    prev_result: Result | None = None
    valid_attachments: tuple[Attachment, ...] = ()

    def get(self, key: str, default=None):
        """A plugin-specific key of the configuration."""
        return self.raw.get(key, default)


def decode(stdin: bytes) -> dict:
    """The JSON object on stdin, or a code-6 error saying what is wrong with it."""
    if not stdin.strip():
        raise CNIError(DECODE_FAILURE, "no network configuration on stdin",
                       "the runtime must pass the network configuration as a JSON object on stdin")
    try:
        obj = json.loads(stdin)
    except UnicodeDecodeError as e:
        raise CNIError(DECODE_FAILURE, "network configuration is not UTF-8 text", str(e)) from None
    except ValueError as e:
        raise CNIError(DECODE_FAILURE, "network configuration is not valid JSON", str(e)) from None
    except RecursionError:
        raise CNIError(DECODE_FAILURE, "network configuration is nested too deeply",
                       "the JSON on stdin nests arrays or objects beyond what pynet decodes") from None
    if not isinstance(obj, dict):
        raise CNIError(DECODE_FAILURE, "network configuration must be a JSON object",
                       f"got a JSON {_JSON_TYPES.get(type(obj), type(obj).__name__)}")
    return obj


def check_version(obj: dict) -> str:
    """The config's cniVersion, if pynet supports it."""
    version = obj.get("cniVersion")
    supported = ", ".join(SUPPORTED)
    if version is None or version == "":
        raise invalid_config("network configuration has no cniVersion",
                             f"set \"cniVersion\" to one of {supported}")
    if not isinstance(version, str):
        raise invalid_config("invalid cniVersion", f"{version!r} is not a string; use one of {supported}")
    if version not in SUPPORTED:
        raise CNIError(INCOMPATIBLE_VERSION, "incompatible CNI version",
                       f"config is {version!r}, pynet supports {supported}")
    return version


def _mapping(obj: dict, key: str) -> MappingProxyType:
    value = obj.get(key)
    if value is None:
        return _EMPTY
    if not isinstance(value, dict):
        raise invalid_config(f"invalid {key}", f"{key} must be a JSON object, got {value!r}"[:200])
    return MappingProxyType(value)


def check_type(value, key: str) -> str:
    """A plugin type: a non-empty string that can be a file name."""
    if not isinstance(value, str) or not value:
        raise invalid_config(f"network configuration has no {key}",
                             f"set \"{key}\" to the name of the plugin executable")
    if "/" in value or "\\" in value or value in (".", "..") or "\0" in value:
        raise invalid_config(f"invalid {key}", f"{value!r} must be a plugin name, not a path")
    return value


def _attachments(obj: dict) -> tuple[Attachment, ...]:
    value = obj.get("cni.dev/valid-attachments")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_config("invalid cni.dev/valid-attachments", "it must be a list of objects")
    out = []
    for n, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("containerID"), str) \
                or not isinstance(item.get("ifname"), str):
            raise invalid_config("invalid cni.dev/valid-attachments",
                                 f"item {n} must be {{\"containerID\": ..., \"ifname\": ...}}")
        out.append(Attachment(item["containerID"], item["ifname"]))
    return tuple(out)


def parse_config(obj: dict) -> NetConf:
    """Validate a decoded plugin configuration; prevResult is converted to the config's version."""
    version = check_version(obj)
    name = obj.get("name")
    if name is None or name == "":
        raise invalid_config("network configuration has no name", "set \"name\" to the network's name")
    if not isinstance(name, str) or name_problem(name):
        raise invalid_config("invalid network name",
                             f"{str(name)[:80]!r}: {name_problem(name) if isinstance(name, str) else 'not a string'}")
    plugin_type = check_type(obj.get("type"), "type")
    ip_masq = obj.get("ipMasq")
    ip_masq = False if ip_masq is None else ip_masq  # null means unset, as for the reference
    if not isinstance(ip_masq, bool):
        raise invalid_config("invalid ipMasq", f"ipMasq must be true or false, got {ip_masq!r}")
    ipam = obj.get("ipam")
    if ipam is not None:
        if not isinstance(ipam, dict):
            raise invalid_config("invalid ipam", "ipam must be a JSON object with a \"type\"")
        if ipam:  # an empty "ipam": {} means no IPAM, as with the reference plugins
            check_type(ipam.get("type"), "ipam.type")
        ipam = MappingProxyType(ipam)
    capabilities = _mapping(obj, "capabilities")
    if not all(isinstance(v, bool) for v in capabilities.values()):
        raise invalid_config("invalid capabilities", "capabilities maps names to true or false")
    prev = obj.get("prevResult")
    prev_result = parse_result(prev, "prevResult", version)[1] if prev is not None else None
    return NetConf(
        cni_version=version,
        name=name,
        type=plugin_type,
        raw=MappingProxyType(obj),
        args=_mapping(obj, "args"),
        ip_masq=ip_masq,
        ipam=ipam or None,
        dns=parse_dns(obj.get("dns")),
        capabilities=capabilities,
        runtime_config=_mapping(obj, "runtimeConfig"),
        prev_result=prev_result,
        valid_attachments=_attachments(obj),
    )
