"""What every interface-creating plugin does with an IPAM result inside the container."""

from __future__ import annotations

import ipaddress

from ..kernel.links import add_address, add_route, all_addresses, main_routes, set_up, write_sysctl
from ..spec import Request, Result, Route


def subnet(cidr: str) -> str:
    """The network of an interface address: "10.88.0.5/24" -> "10.88.0.0/24"."""
    return str(ipaddress.ip_interface(cidr).network)


def with_default_routes(ipam: Result) -> tuple[Route, ...]:
    """IPAM's routes plus a default route via each family's gateway, unless it has one already."""
    routes = list(ipam.routes)
    for ip in ipam.ips:
        default = "::/0" if ":" in ip.address else "0.0.0.0/0"
        if ip.gateway and not any(r.dst == default for r in routes):
            routes.append(Route(dst=default, gw=ip.gateway))
    return tuple(routes)


def configure(ipr, index: int, request: Request, ipam: Result, routes, enable_dad: bool = False) -> None:
    """Addresses, link up, routes (a route without `gw` uses its family's gateway) on the container's
    interface. IPv6 duplicate address detection is off unless asked, so addresses work at once."""
    if any(":" in ip.address for ip in ipam.ips) and not enable_dad:
        write_sysctl(f"net/ipv6/conf/{request.ifname}/accept_dad", "0", request.netns)
    for ip in ipam.ips:
        add_address(ipr, index, ip.address)
    set_up(ipr, index)
    gateways = {":" in ip.address: ip.gateway for ip in ipam.ips if ip.gateway}
    for route in routes:
        add_route(ipr, index, route.dst, route.gw or gateways.get(":" in route.dst, ""))


def differences(ipr, index: int, ifname: str, addresses: list[str], routes) -> list[str]:
    """What CHECK finds missing on the container's interface: addresses, and routes by destination
    (a later chained plugin may have changed a route's details, as the spec allows)."""
    have = set(all_addresses(ipr, index))
    problems = [f"address {a} missing on {ifname}" for a in addresses if a not in have]
    present = {dst for dst, _ in main_routes(ipr, index)}
    problems += [f"route to {r.dst} missing" for r in routes if r.dst not in present]
    return problems
