"""The kernel side of an encrypted overlay on one host: the network is routed over a WireGuard
device (pnwVNI) instead of VXLAN, every remote host a peer:

    peer   <remote wgKey> endpoint <remote underlay>:<port> allowed-ips <remote subnet>
    route  <remote subnet> dev pnwVNI

(fabric.py is the same for VXLAN.) A peer's traffic is accepted only from its own subnet, and only
holders of the network's leases are peers: two networks (two devices, ports and sets of keys) never
exchange a packet.
"""

from __future__ import annotations

import ipaddress

from ...kernel import wireguard
from ...kernel.links import add_route, delete_route, link_index, onlink_routes, summary


def wanted_peers(leases: dict[str, dict], own_subnet: str, port: int) -> dict[str, tuple[str, str]]:
    """{remote subnet: (public key, endpoint)} of every other host's lease (one with no key is skipped:
    that host has not joined encrypted)."""
    return {s: (r["wgKey"], f"{r['underlay']}:{port}") for s, r in leases.items() if s != own_subnet and r.get("wgKey")}


def _routes(ipr, index: int, network) -> set[str]:
    return {d for d in onlink_routes(ipr, index) if ipaddress.IPv4Network(d).subnet_of(network)}


def sync(ipr, device: str, network, wanted: dict) -> list[str]:
    """Make the device's peers and routes exactly `wanted`; returns what changed (for the log)."""
    index = link_index(ipr, device)
    if index is None:
        return []
    peers, routes, changes = wireguard.peers(ipr, device), _routes(ipr, index, network), []
    by_key = {key: (endpoint, (subnet,)) for subnet, (key, endpoint) in wanted.items()}
    for key in peers.keys() - by_key.keys():
        wireguard.remove_peer(ipr, device, key)
        changes.append(f"-peer {key[:8]}")
    for key, (endpoint, allowed) in by_key.items():
        if peers.get(key) != (endpoint, allowed):
            wireguard.set_peer(ipr, device, key, endpoint, allowed)
            changes.append(f"+peer {key[:8]} {endpoint} {allowed[0]}")
    for dst in routes - wanted.keys():
        delete_route(ipr, index, dst)
        changes.append(f"-route {dst}")
    for subnet in wanted.keys() - routes:
        add_route(ipr, index, subnet)
        changes.append(f"+route {subnet}")
    return changes


def missing(ipr, device: str, network, wanted: dict) -> list[str]:
    """What CHECK finds wrong with the device's peers and routes."""
    index = link_index(ipr, device)
    if index is None:
        return [f"WireGuard device {device} is missing"]
    peers, routes = wireguard.peers(ipr, device), _routes(ipr, index, network)
    problems = [f"no peer {key[:8]}… at {endpoint} for {subnet}" for subnet, (key, endpoint) in wanted.items()
                if peers.get(key) != (endpoint, (subnet,))]
    problems += [f"no route to {s}" for s in sorted(wanted.keys() - routes)]
    problems += [f"stale route to {s}" for s in sorted(routes - wanted.keys())]
    known = {key for key, _ in wanted.values()}
    return problems + [f"stale peer {key[:8]}…" for key in sorted(peers.keys() - known)]


def device_problems(ipr, conf, public_key: str) -> list[str]:
    """How the WireGuard device differs from the configuration and this host's key (empty if right)."""
    index = link_index(ipr, conf.device)
    if index is None:
        return [f"WireGuard device {conf.device} is missing"]
    if summary(ipr, index).kind != "wireguard":
        return [f"{conf.device} is not a WireGuard device"]
    port, key = wireguard.settings(ipr, conf.device)
    problems = [f"{conf.device} listens on port {port}, expected {conf.port}"] if port != conf.port else []
    return problems + ([f"{conf.device} has another key than this host's"] if key != public_key else [])
