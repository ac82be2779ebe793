"""The tuning plugin's configuration (the reference tuning's keys). No I/O.

Sources, later ones winning as in the reference: the config's `mac`, `mtu`, `promisc`, `allmulti`,
`sysctl`; `CNI_ARGS` `MAC=`; `runtimeConfig.mac` (the `mac` capability); `args.cni.{mac, mtu,
promisc, allmulti, sysctl}` (`args.cni.sysctl` adds to / overrides the config's map).
"""

from __future__ import annotations

import json
import os
from ...spec.record import record

from ...context import getenv
from ...spec import Request
from ...spec.config import mtu as parse_mtu
from ...spec.mac import unicast_mac
from ...spec.errors import invalid_config

DEFAULT_STATE_DIR = "/var/lib/pynet"


@record
class Sysctl:
    key: str    # as configured, e.g. "net.ipv4.conf.IFNAME.rp_filter"
    path: str   # under /proc/sys, slash-separated: "net/ipv4/conf/eth0.100/rp_filter"
    value: str


@record
class TuningConf:
    sysctls: tuple[Sysctl, ...] = ()
    mac: str = ""                 # normalised "aa:bb:cc:dd:ee:ff", "" = leave as is
    mtu: int = 0                  # 0 = leave as is
    promisc: bool | None = None   # None = leave as is
    allmulti: bool | None = None  # None = leave as is
    state_dir: str = ""

    @property
    def touches_link(self) -> bool:
        return bool(self.mac or self.mtu or self.promisc is not None or self.allmulti is not None)


def _flag(value, key: str, where: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid_config(f"invalid {key}", f"{where} must be true or false, got {value!r}"[:200])
    return value


class _Object(dict):
    """A JSON object that remembers keys it had more than once."""

    duplicates: tuple[str, ...] = ()


def _object_hook(pairs):
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def _duplicate_sysctl_keys(stdin: bytes) -> tuple[str, ...]:
    """Keys written twice in the config's "sysctl" object (json.loads keeps only the last one)."""
    try:
        top = json.loads(stdin, object_pairs_hook=_object_hook)
    except (ValueError, RecursionError):
        return ()
    sysctl = top.get("sysctl") if isinstance(top, dict) else None
    return sysctl.duplicates if isinstance(sysctl, _Object) else ()


def sysctl_path(key: str, ifname: str) -> str:
    """The path under /proc/sys of the dotted sysctl `key`, or a code-7 error naming the key.

    Only net.* names; "IFNAME" as a part is the interface name; an interface name holding dots
    (eth0.100) stays one path element, whether written as IFNAME or literally.
    """
    if not isinstance(key, str) or not key:
        raise invalid_config("invalid sysctl key", f"{key!r}: a sysctl name such as net.core.somaxconn")
    if "/" in key or ".." in key or "\0" in key or any(ch.isspace() for ch in key):
        raise invalid_config(f"invalid sysctl key {key!r}",
                             "write sysctl names with dots (net.ipv4.conf.IFNAME.rp_filter); "
                             "'/', '..' and whitespace are not allowed")
    dotted = key
    if "." in ifname:  # the interface's own name written out: keep it in one piece
        dotted = f".{dotted}.".replace(f".{ifname}.", ".IFNAME.")[1:-1]
    parts = dotted.split(".")
    if "" in parts:
        raise invalid_config(f"invalid sysctl key {key!r}", "a sysctl name has no empty parts")
    if parts[0] != "net" or len(parts) < 2:
        raise invalid_config(f"sysctl {key!r} is not allowed",
                             "tuning sets only network sysctls (net.*), inside the container's namespace")
    return "/".join(ifname if part == "IFNAME" else part for part in parts)


def _sysctls(request: Request, cni_args: dict) -> tuple[Sysctl, ...]:
    duplicates = _duplicate_sysctl_keys(request.stdin)
    if duplicates:
        raise invalid_config("duplicated sysctl keys", "given more than once: " + ", ".join(duplicates))
    merged = {}
    for where, value in (("sysctl", request.config.get("sysctl")), ("args.cni.sysctl", cni_args.get("sysctl"))):
        if value is None:
            continue
        if not isinstance(value, dict):
            raise invalid_config(f"invalid {where}", f"{where} must be an object of name -> value, got {value!r}"[:200])
        merged.update(value)
    out, by_path = [], {}
    for key, value in merged.items():
        path = sysctl_path(key, request.ifname)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or "\0" in value:
            raise invalid_config(f"invalid value of sysctl {key!r}", f"{value!r} is not a string"[:200])
        if path in by_path and by_path[path] != key:
            raise invalid_config("conflicting sysctl keys", f"{by_path[path]!r} and {key!r} are the same sysctl")
        by_path[path] = key
        out.append(Sysctl(key=key, path=path, value=value))
    return tuple(out)


def state_dir(request: Request) -> str:
    """Where ADD keeps the values it replaced: `dataDir`, else $PYNET_STATE_DIR/tuning."""
    data_dir = request.config.get("dataDir")
    if data_dir is None or data_dir == "":
        return os.path.join(getenv("PYNET_STATE_DIR") or DEFAULT_STATE_DIR, "tuning")
    if not isinstance(data_dir, str) or not data_dir.startswith("/") or "\0" in data_dir:
        raise invalid_config("invalid dataDir", f"{data_dir!r} must be an absolute directory path"[:200])
    return data_dir


def _cni_args(request: Request) -> dict:
    value = request.config.args.get("cni")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_config("invalid args.cni", "args.cni must be a JSON object")
    return value


def parse(request: Request) -> TuningConf:
    conf, cni_args = request.config, _cni_args(request)
    # CNI_ARGS are shared by every plugin of the chain (IP= for IPAM, K8S_POD_*, ...): only MAC is read.
    mac = unicast_mac(conf.get("mac"), "mac")
    mac = unicast_mac(dict(request.invocation.args).get("MAC"), "CNI_ARGS MAC") or mac
    mac = unicast_mac(conf.runtime_config.get("mac"), "runtimeConfig.mac") or mac
    mac = unicast_mac(cni_args.get("mac"), "args.cni.mac") or mac
    mtu = conf.mtu()
    if cni_args.get("mtu") is not None:
        mtu = parse_mtu(cni_args["mtu"], "args.cni.mtu")
    flags = {}
    for key in ("promisc", "allmulti"):
        flags[key] = _flag(conf.get(key), key, key)
        if cni_args.get(key) is not None:
            flags[key] = _flag(cni_args[key], key, f"args.cni.{key}")
    return TuningConf(sysctls=_sysctls(request, cni_args), mac=mac, mtu=mtu, promisc=flags["promisc"],
                      allmulti=flags["allmulti"], state_dir=state_dir(request))
