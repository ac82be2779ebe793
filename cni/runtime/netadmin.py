"""Networks as `pynet create/network` manages them: conflist files in the CNI configuration dir.

`pynet create bridge NAME` writes `<conf dir>/NAME.conflist`: pynet's bridge (with host-local
IPAM), portmap, firewall and tuning, by their reference type names, as Podman writes its networks.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone

from . import subnets
from .cache import cache_dir_of
from .cache import DEFAULT_CACHE_DIR
from .netconf import NetworkConfig, conf_dir_of, load_network, load_networks
from ..spec.env import name_problem

RESERVED = ("none", "host")
BRIDGE_PREFIX = "pn-"


class NetworkError(RuntimeError):
    """A network request that cannot be done (one line for people)."""


@dataclass(frozen=True)
class BridgeOptions:
    subnet: str = ""
    gateway: str = ""
    ipv6: str = ""
    internal: bool = False
    mtu: int = 0
    icc: bool = True


def network_subnets(net: NetworkConfig) -> list[subnets.Network]:
    """The subnets of every IPAM section of the network (host-local ranges and `subnet`)."""
    found = []
    for plugin in net.plugins:
        ipam = plugin.get("ipam") or {}
        ranges = [r for rset in ipam.get("ranges") or [] if isinstance(rset, list) for r in rset if isinstance(r, dict)]
        for cidr in [r.get("subnet") for r in ranges] + [ipam.get("subnet")]:
            try:
                found.append(ipaddress.ip_network(cidr, strict=False))
            except (TypeError, ValueError):
                continue
    return found


def bridge_of(net: NetworkConfig) -> str:
    return next((p.get("bridge") or "cni0" for p in net.plugins if p.get("type") == "bridge"), "")


def bridge_name(network: str, taken: set[str]) -> str:
    """`pn-<network>` when it fits in 15 bytes, else `pn-` + its start + a hash; never one of `taken`."""
    digest = hashlib.sha256(network.encode()).hexdigest()
    for name in (f"{BRIDGE_PREFIX}{network}", f"{BRIDGE_PREFIX}{network[:5]}-{digest[:6]}",
                 f"{BRIDGE_PREFIX}{digest[:12]}"):
        if len(name.encode()) <= 15 and name not in taken:
            return name
    raise NetworkError(f"no free bridge name for network {network!r}")


def _subnet(text: str, version: int, option: str) -> subnets.Network:
    try:
        net = ipaddress.ip_network(text)
    except ValueError as e:
        raise NetworkError(f"invalid {option} {text!r}: {e}") from None
    if net.version != version or net.num_addresses < 4:
        raise NetworkError(f"invalid {option} {text!r}: an IPv{version} subnet with room for a gateway and containers")
    return net


def _gateway(text: str, net: subnets.Network, option: str = "--gateway") -> str:
    if not text:
        return str(net.network_address + 1)
    try:
        gw = ipaddress.ip_address(text)
    except ValueError as e:
        raise NetworkError(f"invalid {option} {text!r}: {e}") from None
    hosts = (net.network_address, net.broadcast_address) if net.version == 4 else (net.network_address,)
    if gw not in net or gw in hosts:
        raise NetworkError(f"invalid {option} {text}: not a host address of {net}")
    return str(gw)


def bridge_conflist(name: str, bridge: str, v4: subnets.Network, gateway: str, opts: BridgeOptions,
                    data_dir: str = "", created: str = "") -> dict:
    """The conflist of a bridge network (no I/O). The top-level "pynet" key (ignored by libcni)
    marks the networks pynet made: only those are pruned."""
    ranges = [[{"subnet": str(v4), "gateway": gateway}]]
    routes = [] if opts.internal else [{"dst": "0.0.0.0/0"}]
    if opts.ipv6:
        v6 = ipaddress.ip_network(opts.ipv6)
        ranges.append([{"subnet": str(v6), "gateway": str(v6.network_address + 1)}])
        routes += [] if opts.internal else [{"dst": "::/0"}]
    ipam = {"type": "host-local", "ranges": ranges, "routes": routes}
    if data_dir:
        ipam["dataDir"] = data_dir
    bridge_conf = {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": not opts.internal,
                   "hairpinMode": True, "isolation": True, "icc": opts.icc,
                   "capabilities": {"ips": True, "mac": True}, "ipam": ipam}
    if opts.mtu:
        bridge_conf["mtu"] = opts.mtu
    return {"cniVersion": "1.0.0", "cniVersions": ["1.0.0", "1.1.0"], "name": name, "pynet": {"created": created},
            "plugins": [bridge_conf,
                        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
                        {"type": "firewall", "backend": ""},
                        {"type": "tuning"}]}


def _check_name(name: str) -> None:
    problem = name_problem(name)
    if problem or name in RESERVED or len(name) > 64:
        why = problem or ("a network mode" if name in RESERVED else "at most 64 characters")
        raise NetworkError(f"invalid network name {name!r}: {why}")


def create_bridge(name: str, opts: BridgeOptions, conf_dir: str | None = None) -> NetworkConfig:
    """Write NAME.conflist for a new bridge network; its subnet is free unless given."""
    _check_name(name)
    if opts.mtu and not 68 <= opts.mtu <= 65535:
        raise NetworkError(f"invalid --mtu {opts.mtu}: an MTU is 68 to 65535")
    directory = conf_dir_of(conf_dir)
    existing = load_networks(directory, on_error=lambda e: None)
    if any(n.name == name for n in existing):
        raise NetworkError(f"network {name!r} already exists")
    path = os.path.join(directory, f"{name}.conflist")
    if os.path.exists(path):
        raise NetworkError(f"{path} exists already")
    used = {n.name: network_subnets(n) for n in existing}
    if opts.subnet:
        v4 = _subnet(opts.subnet, 4, "--subnet")
    else:
        try:
            v4 = subnets.choose([s for nets in used.values() for s in nets] + subnets.routed())
        except ValueError as e:
            raise NetworkError(str(e)) from None
    if opts.ipv6:
        _subnet(opts.ipv6, 6, "--ipv6")
    for cidr in filter(None, (v4, opts.ipv6 and ipaddress.ip_network(opts.ipv6))):
        clash = subnets.overlapping(cidr, used)
        if clash:
            raise NetworkError(f"subnet {cidr} overlaps network {clash[0]!r}")
    gateway = _gateway(opts.gateway, v4)
    bridge = bridge_name(name, {bridge_of(n) for n in existing})
    data_dir = "" if cache_dir_of() == DEFAULT_CACHE_DIR else os.path.join(cache_dir_of(), "networks")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    document = bridge_conflist(name, bridge, v4, gateway, opts, data_dir, created)
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return load_network(name, directory)


def remove(net: NetworkConfig) -> None:
    """Delete the network's file, its bridge, its firewall elements and its IPAM store."""
    os.unlink(net.path)
    bridge = bridge_of(net)
    if bridge:
        subprocess.run(["ip", "link", "delete", bridge, "type", "bridge"], capture_output=True)
    for plugin in net.plugins:
        if plugin.get("type") == "bridge":
            from ..firewall import driver

            forget = getattr(driver(plugin.get("firewallBackend") or ""), "forget_network", None)
            if forget:
                forget(net.name, bridge)
        ipam = plugin.get("ipam") or {}
        if ipam.get("type") == "host-local":
            shutil.rmtree(os.path.join(ipam.get("dataDir") or "/var/lib/cni/networks", net.name), ignore_errors=True)


def made_by_pynet(net: NetworkConfig) -> dict | None:
    """The "pynet" marker of a network pynet created (None for any other network)."""
    try:
        marker = json.loads(net.raw).get("pynet")
    except ValueError:
        return None
    return marker if isinstance(marker, dict) else None
