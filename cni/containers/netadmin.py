"""Networks as `pynet create/network` manages them: conflist files in the CNI configuration dir.

`pynet create bridge NAME` writes `<conf dir>/NAME.conflist`: pynet's bridge (with host-local
IPAM), portmap, firewall and tuning, by their reference type names, as Podman writes its networks.
`pynet run` without `--network` writes the default network `bridge` (bridge `pynet0`) that way.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from . import subnets
from ..libcni import CNIConfig, CNIRuntimeError
from ..libcni.cache import cache_dir_of
from ..libcni.cache import DEFAULT_CACHE_DIR
from ..libcni.errors import NetworkNotFound
from ..libcni.netconf import NetworkConfig, conf_dir_of, load_network, load_networks
from ..kernel import inventory
from ..spec import CNIError
from ..spec.env import name_problem
from ..spec.versions import at_least

RESERVED = ("none", "host")
HOST_LOCAL_DIR = "/var/lib/cni/networks"  # host-local's default dataDir
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
    device: str = ""  # the bridge's name (default: pn-<network>)
    dns: bool = True  # containers find each other by name (dnsname), as on Docker's user-defined networks


def network_subnets(net: NetworkConfig) -> list[subnets.Network]:
    """The subnets of every IPAM section of the network (host-local ranges and `subnet`), and an
    overlay's whole `network`."""
    found = []
    for plugin in net.plugins:
        if plugin.get("type") == "overlay":
            try:
                found.append(ipaddress.ip_network(plugin.get("network")))
            except (TypeError, ValueError):
                pass
        ipam = plugin.get("ipam") or {}
        ranges = [r for rset in ipam.get("ranges") or [] if isinstance(rset, list) for r in rset if isinstance(r, dict)]
        for cidr in [r.get("subnet") for r in ranges] + [ipam.get("subnet")]:
            try:
                found.append(ipaddress.ip_network(cidr, strict=False))
            except (TypeError, ValueError):
                continue
    return found


def bridge_of(net: NetworkConfig) -> str:
    """The network's host bridge: the bridge plugin's (default cni0) or the overlay's (pno<vni>)."""
    for p in net.plugins:
        if p.get("type") == "bridge":
            return p.get("bridge") or "cni0"
        if p.get("type") == "overlay":
            return p.get("bridge") or f"pno{p.get('vni')}"
    return ""


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


def conflist(name: str, plugins: list[dict], created: str = "") -> dict:
    """A network's conflist (no I/O). The top-level "pynet" key (ignored by libcni) marks the
    networks pynet made: only those are pruned. CNI 1.0.0, not 1.1.0: the result cache then holds
    1.0.0 results, which the Go libcni of Debian 12 and Podman 4 (1.1.x) can read to CHECK and DEL."""
    return {"cniVersion": "1.0.0", "name": name, "pynet": {"created": created}, "plugins": plugins}


def host_local(ranges: list[list[dict]], routes: list[dict]) -> dict:
    """host-local IPAM; its store goes with the result cache when that was moved (simulated hosts)."""
    ipam = {"type": "host-local", "ranges": ranges, "routes": routes}
    if cache_dir_of() != DEFAULT_CACHE_DIR:
        ipam["dataDir"] = os.path.join(cache_dir_of(), "networks")
    return ipam


PORTMAP = {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}


def bridge_plugins(bridge: str, v4: subnets.Network, gateway: str, opts: BridgeOptions) -> list[dict]:
    """bridge (with host-local), portmap, firewall, tuning and, unless `opts.dns` is off, dnsname, as
    Podman chains them (no I/O)."""
    ranges = [[{"subnet": str(v4), "gateway": gateway}]]
    routes = [] if opts.internal else [{"dst": "0.0.0.0/0"}]
    if opts.ipv6:
        v6 = ipaddress.ip_network(opts.ipv6)
        ranges.append([{"subnet": str(v6), "gateway": str(v6.network_address + 1)}])
        routes += [] if opts.internal else [{"dst": "::/0"}]
    bridge_conf = {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": not opts.internal,
                   "hairpinMode": True, "isolation": True, "icc": opts.icc,
                   "capabilities": {"ips": True, "mac": True}, "ipam": host_local(ranges, routes)}
    if opts.mtu:
        bridge_conf["mtu"] = opts.mtu
    plugins = [bridge_conf, PORTMAP,
               {"type": "firewall", "backend": ""}, {"type": "tuning"}]
    return plugins + ([dnsname_plugin()] if opts.dns else [])


def sublink_plugins(kind: str, parent: str, mode: str, v4: subnets.Network, gateway: str) -> list[dict]:
    """macvlan or ipvlan on `parent` (with host-local, default route via the LAN's gateway) and tuning."""
    capabilities = {"ips": True, "mac": True} if kind == "macvlan" else {"ips": True}  # ipvlan shares the parent's MAC
    return [{"type": kind, "master": parent, "mode": mode, "capabilities": capabilities,
             "ipam": host_local([[{"subnet": str(v4), "gateway": gateway}]], [{"dst": "0.0.0.0/0"}])},
            {"type": "tuning"}]


def _check_name(name: str) -> None:
    problem = name_problem(name)
    if problem or name in RESERVED or len(name) > 64:
        why = problem or ("a network mode" if name in RESERVED else "at most 64 characters")
        raise NetworkError(f"invalid network name {name!r}: {why}")


def _existing(name: str, conf_dir: str | None) -> tuple[str, list[NetworkConfig]]:
    """The conf dir and its networks, none of which may be called `name`."""
    _check_name(name)
    directory = conf_dir_of(conf_dir)
    existing = load_networks(directory, on_error=lambda e: None)
    if any(n.name == name for n in existing) or os.path.exists(os.path.join(directory, f"{name}.conflist")):
        raise NetworkError(f"network {name!r} already exists")
    return directory, existing


def _no_overlap(cidrs: list[subnets.Network], existing: list[NetworkConfig]) -> None:
    used = {n.name: network_subnets(n) for n in existing}
    for cidr in cidrs:
        clash = subnets.overlapping(cidr, used)
        if clash:
            raise NetworkError(f"subnet {cidr} overlaps network {clash[0]!r}")


def _write(directory: str, name: str, plugins: list[dict]) -> NetworkConfig:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.conflist")
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(conflist(name, plugins, datetime.now(timezone.utc).isoformat(timespec="seconds")), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return load_network(name, directory)


def create_bridge(name: str, opts: BridgeOptions, conf_dir: str | None = None) -> NetworkConfig:
    """Write NAME.conflist for a new bridge network; its subnet is free unless given."""
    directory, existing = _existing(name, conf_dir)
    if opts.mtu and not 68 <= opts.mtu <= 65535:
        raise NetworkError(f"invalid --mtu {opts.mtu}: an MTU is 68 to 65535")
    if opts.subnet:
        v4 = _subnet(opts.subnet, 4, "--subnet")
    else:
        try:
            v4 = subnets.choose([s for n in existing for s in network_subnets(n)] + subnets.routed())
        except ValueError as e:
            raise NetworkError(str(e)) from None
    _no_overlap([v4] + ([_subnet(opts.ipv6, 6, "--ipv6")] if opts.ipv6 else []), existing)
    taken = {bridge_of(n) for n in existing}
    if opts.device and opts.device in taken:
        raise NetworkError(f"bridge {opts.device} is used by another network")
    bridge = opts.device or bridge_name(name, taken)
    return _write(directory, name, bridge_plugins(bridge, v4, _gateway(opts.gateway, v4), opts))


DEFAULT_NETWORK, DEFAULT_BRIDGE = "bridge", "pynet0"  # Docker's `bridge` network on docker0
DNS_DOMAIN = "dns.pynet"  # a user-defined network's names: NAME and NAME.dns.pynet


def dnsname_plugin() -> dict:
    """The name server's plugin, as Podman chains it (its aliases: `pynet run --network-alias`)."""
    return {"type": "dnsname", "domainName": DNS_DOMAIN, "capabilities": {"aliases": True}}


def default_network() -> NetworkConfig:
    """Docker's default network, `bridge` on `pynet0` with a free subnet (172.17.0.0/16 first) and,
    as Docker's, no names (no dnsname), written on first use. The caller holds the runtime's lock:
    two first runs make one network."""
    try:
        return load_network(DEFAULT_NETWORK)
    except NetworkNotFound:
        pass
    try:
        return create_bridge(DEFAULT_NETWORK, BridgeOptions(device=DEFAULT_BRIDGE, dns=False))
    except NetworkError as e:
        raise NetworkError(f"cannot create the default network {DEFAULT_NETWORK!r}: {e}") from None


SUBLINK_MODES = {"macvlan": ("bridge", "private", "vepa", "passthru"), "ipvlan": ("l2", "l3", "l3s")}


def create_sublink(kind: str, name: str, parent: str, subnet: str, gateway: str = "", mode: str = "",
                   conf_dir: str | None = None) -> NetworkConfig:
    """Write NAME.conflist for a macvlan or ipvlan network: containers with addresses of their own
    on `parent`'s LAN (`subnet`)."""
    directory, existing = _existing(name, conf_dir)
    modes = SUBLINK_MODES[kind]
    mode = mode or modes[0]
    if not subnet:
        raise NetworkError(f"a {kind} network needs --subnet: the subnet of the parent's LAN")
    if mode not in modes:
        raise NetworkError(f"invalid --mode {mode!r}: {', '.join(modes)}")
    try:
        present = inventory.has_link(parent)
    except CNIError as e:
        raise NetworkError(f"cannot look for --parent {parent!r}: {e}") from None
    if not present:
        raise NetworkError(f"invalid --parent {parent!r}: no such interface here")
    v4 = _subnet(subnet, 4, "--subnet")
    _no_overlap([v4], existing)
    return _write(directory, name, sublink_plugins(kind, parent, mode, v4, _gateway(gateway, v4)))


@dataclass(frozen=True)
class OverlayOptions:
    vni: int
    network: str
    underlay: str
    subnet_len: int = 24
    port: int = 0  # 0: the plugin's default (VXLAN's 4789, WireGuard's 51820)
    mtu: int = 0
    etcd: tuple[str, ...] = ()  # etcd client URLs; none: the file store
    store_file: str = ""
    lease_ttl: int = 0
    etcd_tls: tuple[tuple[str, str], ...] = ()  # ("cacert" | "cert" | "key", path): etcd over TLS
    dns: bool = True  # containers find each other by name across the hosts, as on Docker's overlays
    encrypt: bool = False  # routed over WireGuard between the hosts
    default_gateway: bool = False  # containers route everything via their host (replies to published ports)


def overlay_plugins(opts: OverlayOptions) -> list[dict]:
    """overlay, portmap (`pynet run -p` publishes on the host) and, unless `opts.dns` is off, dnsname
    (no I/O)."""
    store = ({"type": "etcd", "endpoints": list(opts.etcd), **dict(opts.etcd_tls)} if opts.etcd else
             {"type": "file", **({"path": opts.store_file} if opts.store_file else {})})
    overlay = {"type": "overlay", "vni": opts.vni, "network": opts.network, "subnetLen": opts.subnet_len,
               **({"port": opts.port} if opts.port else {}), "underlay": opts.underlay, "store": store,
               **({"mtu": opts.mtu} if opts.mtu else {}), **({"leaseTTL": opts.lease_ttl} if opts.lease_ttl else {}),
               **({"encrypt": True} if opts.encrypt else {}),
               **({"isDefaultGateway": True} if opts.default_gateway else {})}
    return [overlay, PORTMAP, *([dnsname_plugin()] if opts.dns else [])]


def create_overlay(name: str, opts: OverlayOptions, conf_dir: str | None = None, *,
                   check: Callable[[str, dict], str]) -> NetworkConfig:
    """Write NAME.conflist for a VXLAN overlay across hosts (the same file on every host), validated
    by `check` as the plugin will read it (the overlay's config.conf_problem: the runtime does not
    import plugins); its network may not overlap another network here."""
    directory, existing = _existing(name, conf_dir)
    plugins = overlay_plugins(opts)
    problem = check(name, plugins[0])
    if problem:
        raise NetworkError(problem)
    _no_overlap([ipaddress.ip_network(opts.network)], existing)
    return _write(directory, name, plugins)


def release(net: NetworkConfig, cni_path=None) -> None:
    """Every plugin of the network releases what it holds for it (veths, firewall elements,
    addresses): CNI GC with no valid attachment, at CNI 1.1.0 for a network of an older version (GC
    caches no result that an older libcni would have to read); nothing with disableGC."""
    if not at_least(net.cni_version, "1.1.0"):
        net = replace(net, cni_version="1.1.0")
    try:
        CNIConfig(path=cni_path).gc(net, valid=())
    except CNIRuntimeError as e:
        raise NetworkError(f"network {net.name} is kept: its plugins could not release what they hold for it "
                           f"({e}); fix that and remove it again, or delete {net.path} by hand") from None


def remove(net: NetworkConfig, cni_path=None) -> None:
    """Release what the network's plugins hold for it (`release`), then delete its file, its bridge
    (unless another network names it too) and its IPAM store. A bridge the kernel refuses to delete
    is a NetworkError, raised when the rest is done."""
    release(net, cni_path)
    os.unlink(net.path)
    bridge = bridge_of(net)
    shared = {bridge_of(n) for n in load_networks(os.path.dirname(net.path), on_error=lambda e: None)}
    refused = None
    if bridge and bridge not in shared:
        try:
            inventory.delete_bridge(bridge)
        except CNIError as e:
            refused = e
    for plugin in net.plugins:
        ipam = plugin.get("ipam") or {}
        if ipam.get("type") == "host-local":
            shutil.rmtree(os.path.join(ipam.get("dataDir") or HOST_LOCAL_DIR, net.name), ignore_errors=True)
    if refused:
        raise NetworkError(f"network {net.name} is removed but its bridge {bridge} is not: {refused}")


def made_by_pynet(net: NetworkConfig) -> dict | None:
    """The "pynet" marker of a network pynet created (None for any other network)."""
    try:
        marker = json.loads(net.raw).get("pynet")
    except ValueError:
        return None
    return marker if isinstance(marker, dict) else None
