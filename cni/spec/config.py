"""The network configuration a plugin reads on stdin: decoded and validated, no I/O."""

from __future__ import annotations

from .fastjson import loads
from .record import record
from types import MappingProxyType

from .env import name_problem
from .errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, CNIError, invalid_config, shown
from .limits import MAX_CONFIG_BYTES, MAX_DEPTH
from .result import DNS, Result, parse_dns, parse_result
from .versions import SUPPORTED

PATH_MAX = 4096  # bytes, with the terminating NUL (linux/limits.h)
_EMPTY = MappingProxyType({})
FIREWALL_BACKENDS = ("nftables", "iptables", "none")  # firewallBackend "" (or none): nftables
MTU_MIN, MTU_MAX = 68, 65535
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


@record
class Attachment:
    """One (container id, ifname) pair of GC's cni.dev/valid-attachments."""

    container_id: str
    ifname: str


@record
class NetConf:
    """The well-known keys of a plugin's configuration; `raw` keeps every key for the plugin."""

    cni_version: str
    name: str
    type: str
    raw: MappingProxyType = _EMPTY
    args: MappingProxyType = _EMPTY
    ip_masq: bool = False
    ipam: MappingProxyType | None = None
    dns: DNS = DNS()
    capabilities: MappingProxyType = _EMPTY
    runtime_config: MappingProxyType = _EMPTY
    prev_result: Result | None = None
    valid_attachments: tuple[Attachment, ...] = ()

    def get(self, key: str, default=None):
        """A plugin-specific key of the configuration."""
        return self.raw.get(key, default)

    def flag(self, key: str, default: bool = False) -> bool:
        """A true/false key the plugin reads (isGateway, hairpinMode, isolation, ...)."""
        return flag(self.get(key), key, default)

    def mtu(self, high: int = MTU_MAX) -> int:
        """The `mtu` key: 0 if unset."""
        return mtu(self.get("mtu"), "mtu", high)

    @property
    def firewall_backend(self) -> str:
        """The `firewallBackend` key: "nftables", "iptables", "none", or "" for the default."""
        return firewall_backend(self.get("firewallBackend"))


def flag(value, key: str, default: bool = False) -> bool:
    """A true/false value of `key`; null means unset, as the reference plugins read it."""
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_config(f"invalid {key}", f"{key} must be true or false, got {shown(value)}")
    return value


def mtu(value, where: str = "mtu", high: int = MTU_MAX) -> int:
    """An MTU (`where` says which key): 0 if null or 0, else a number from 68 to `high`."""
    if value is None or (value == 0 and not isinstance(value, bool)):
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not MTU_MIN <= value <= high:
        raise invalid_config("invalid mtu", f"{where} {shown(value)}: an MTU is a number from {MTU_MIN} to {high}")
    return value


def firewall_backend(value) -> str:
    """A firewallBackend value: one of FIREWALL_BACKENDS, or "" (null, unset) for the default."""
    value = "" if value is None else value
    if value != "" and (not isinstance(value, str) or value not in FIREWALL_BACKENDS):
        raise invalid_config("invalid firewallBackend", f"{shown(value)}: use \"nftables\", \"iptables\" or \"none\"")
    return value


def decode(stdin: bytes) -> dict:
    """The JSON object on stdin, or a code-6 error saying what is wrong with it.

    Stricter than Python's json and as strict as the reference's decoder: UTF-8 without a byte-order
    mark, no NaN/Infinity, no number beyond a double's range (1e999), no unpaired surrogate escape.
    """
    if len(stdin) > MAX_CONFIG_BYTES:
        raise invalid_config("network configuration is too large",
                             f"{len(stdin)} bytes on stdin; pynet reads at most {MAX_CONFIG_BYTES}")
    if not stdin.strip():
        raise CNIError(DECODE_FAILURE, "no network configuration on stdin",
                       "the runtime must pass the network configuration as a JSON object on stdin")
    try:
        obj = loads(stdin.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite)
    except UnicodeDecodeError as e:
        raise CNIError(DECODE_FAILURE, "network configuration is not UTF-8 text", str(e)) from None
    except ValueError as e:
        raise CNIError(DECODE_FAILURE, "network configuration is not valid JSON", str(e)) from None
    except RecursionError:
        obj = _TOO_DEEP
    problem = _unusual(obj)
    if problem:
        raise CNIError(DECODE_FAILURE, "network configuration cannot be used", problem)
    if not isinstance(obj, dict):
        raise CNIError(DECODE_FAILURE, "network configuration must be a JSON object",
                       f"got a JSON {_JSON_TYPES.get(type(obj), type(obj).__name__)}")
    return obj


_TOO_DEEP = object()  # what json.loads() decoded when it ran out of stack


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]} is beyond the range of a number")
    return value


def _unusual(obj) -> str:
    """Why decoded JSON is unusable: deeper than MAX_DEPTH, or a string (or key) that is not text."""
    if obj is _TOO_DEEP:
        return f"arrays and objects nest more than {MAX_DEPTH} levels deep"
    pending = [(obj, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            items = [*value.values(), *value]
        elif isinstance(value, list):
            items = value
        else:
            if isinstance(value, str) and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return f"{shown(value)} holds an unpaired surrogate escape (\\ud800-\\udfff), not a character"
            continue
        if depth >= MAX_DEPTH:
            return f"arrays and objects nest more than {MAX_DEPTH} levels deep"
        pending += [(item, depth + 1) for item in items]
    return ""


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


def check_path(value, where: str) -> str:
    """A file or directory path of a configuration: a string, not empty, no NUL byte, not too long.
    (A relative one is relative to the caller's working directory: see cni.context.caller_path.)"""
    if not isinstance(value, str) or not value:
        raise invalid_config(f"invalid {where}", f"{shown(value)} is not a path")
    if "\0" in value:
        raise invalid_config(f"invalid {where}", f"{shown(value)} holds a NUL byte")
    if len(value.encode("utf-8", "surrogatepass")) >= PATH_MAX:
        raise invalid_config(f"invalid {where}", f"{shown(value)} is longer than Linux paths can be ({PATH_MAX} bytes)")
    return value


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
    ip_masq = flag(obj.get("ipMasq"), "ipMasq")
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
