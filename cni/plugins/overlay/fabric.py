"""The kernel side of the overlay on one host: the VXLAN device and, for every remote host, the
Flannel VXLAN entries:

    route      <remote subnet> via <remote VTEP ip> dev pnxVNI onlink
    neighbour  <remote VTEP ip> lladdr <remote VTEP mac> dev pnxVNI nud permanent
    fdb        <remote VTEP mac> dst <remote underlay ip> dev pnxVNI self permanent
"""

from __future__ import annotations

import ipaddress

from ...kernel.links import (delete_fdb, delete_neighbour, delete_route, fdb_entries, link_index, neighbours,
                             onlink_routes, set_fdb, set_neighbour, set_onlink_route, summary, vxlan_info)
from . import tunnel
from .cluster import vtep_ip


def wanted_entries(leases: dict[str, dict], own_subnet: str) -> dict[str, tuple[str, str, str]]:
    """{remote subnet: (VTEP ip, VTEP mac, underlay ip)} of every other host's lease."""
    return {s: (vtep_ip(s), r["vtepMac"], r["underlay"]) for s, r in leases.items() if s != own_subnet}


def _current(ipr, index: int, network) -> tuple[dict, dict, dict]:
    routes = {d: g for d, g in onlink_routes(ipr, index).items()
              if ipaddress.IPv4Network(d).subnet_of(network) and g}
    return routes, neighbours(ipr, index), fdb_entries(ipr, index)


def sync(ipr, device: str, network, wanted: dict) -> list[str]:
    """Make the device's entries exactly `wanted`; returns what changed (for the log)."""
    index = link_index(ipr, device)
    if index is None:
        return []
    routes, neighs, fdb = _current(ipr, index, network)
    changes = []
    vteps = {ip: mac for ip, mac, _ in wanted.values()}
    dsts = {mac: dst for _, mac, dst in wanted.values()}
    for dst, gw in routes.items():
        if wanted.get(dst, ("",))[0] != gw:
            delete_route(ipr, index, dst)
            changes.append(f"-route {dst}")
    for ip, mac in neighs.items():
        if vteps.get(ip) != mac:
            delete_neighbour(ipr, index, ip)
            changes.append(f"-neigh {ip}")
    for mac, dst in fdb.items():
        if dsts.get(mac) != dst:
            delete_fdb(ipr, index, mac, dst)
            changes.append(f"-fdb {mac}")
    for subnet, (ip, mac, underlay) in wanted.items():
        if fdb.get(mac) != underlay:
            set_fdb(ipr, index, mac, underlay)
            changes.append(f"+fdb {mac} dst {underlay}")
        if neighs.get(ip) != mac:
            set_neighbour(ipr, index, ip, mac)
            changes.append(f"+neigh {ip} {mac}")
        if routes.get(subnet) != ip:
            set_onlink_route(ipr, index, subnet, ip)
            changes.append(f"+route {subnet} via {ip}")
    return changes


def missing(ipr, device: str, network, wanted: dict) -> list[str]:
    """What CHECK finds wrong with the device's entries."""
    index = link_index(ipr, device)
    if index is None:
        return [f"VXLAN device {device} is missing"]
    routes, neighs, fdb = _current(ipr, index, network)
    problems = []
    for subnet, (ip, mac, underlay) in wanted.items():
        if routes.get(subnet) != ip:
            problems.append(f"no route to {subnet} via {ip}")
        if neighs.get(ip) != mac:
            problems.append(f"no neighbour {ip} {mac}")
        if fdb.get(mac) != underlay:
            problems.append(f"no fdb {mac} dst {underlay}")
    stale = set(routes) - set(wanted)
    problems += [f"stale route to {s}" for s in sorted(stale)]
    return problems


def device_problems(ipr, conf, underlay: str) -> list[str]:
    """How the VXLAN device differs from the configuration (empty if it is right)."""
    index = link_index(ipr, conf.device)
    if index is None:
        return [f"VXLAN device {conf.device} is missing"]
    info = vxlan_info(ipr, index)
    if not info:
        return [f"{conf.device} is not a VXLAN device"]
    want = {"vni": conf.vni, "local": underlay, "port": conf.port, "learning": 0}
    return [f"{conf.device} has {k} {info.get(k)}, expected {v}" for k, v in want.items() if info.get(k) != v]


def resolve_underlay(ipr, underlay: str) -> tuple[str, int]:
    """(IPv4 address, MTU) of the underlay, given as an interface name or one of its addresses."""
    from ...kernel.links import ipv4_addresses_of
    from ...spec.errors import invalid_config

    by_address = ipv4_addresses_of(ipr)
    try:
        ipaddress.IPv4Address(underlay)
    except ValueError:
        index = link_index(ipr, underlay)
        if index is None:
            raise invalid_config(f"underlay {underlay} does not exist",
                                 f"this host has no interface {underlay!r}; set underlay to the interface (or its "
                                 "IPv4 address) that reaches the other hosts") from None
        mine = [a for a, i in by_address.items() if i == index]
        if not mine:
            raise invalid_config(f"underlay {underlay} has no IPv4 address",
                                 f"give {underlay} the address the other hosts reach this one at") from None
        return mine[0], summary(ipr, index).mtu
    if underlay not in by_address:
        raise invalid_config(f"underlay {underlay} is not an address of this host",
                             f"no interface here has {underlay}; set underlay to this host's own address")
    return underlay, summary(ipr, by_address[underlay]).mtu


def entries(conf, leases: dict[str, dict], own_subnet: str) -> dict:
    """What this host's device needs for every other host: WireGuard peers (an encrypted network,
    tunnel.py) or VXLAN entries."""
    return tunnel.wanted_peers(leases, own_subnet, conf.port) if conf.encrypt else wanted_entries(leases, own_subnet)


def apply(ipr, conf, wanted: dict) -> list[str]:
    """Make the device's entries exactly `wanted` (from `entries`); returns what changed."""
    return (tunnel.sync if conf.encrypt else sync)(ipr, conf.device, conf.network, wanted)


def lacking(ipr, conf, wanted: dict) -> list[str]:
    """What CHECK finds wrong with the device's entries (from `entries`)."""
    return (tunnel.missing if conf.encrypt else missing)(ipr, conf.device, conf.network, wanted)
