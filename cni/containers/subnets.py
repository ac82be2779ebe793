"""Free subnets for new networks: Docker's default pools, minus what is routed or used already."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

from ..kernel import inventory
from ..spec import CNIError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def pools() -> Iterator[ipaddress.IPv4Network]:
    """172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/20 ... 192.168.240.0/20 (as Docker)."""
    for second in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{second}.0.0/16")
    yield from ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def choose(taken: Iterable[Network]) -> ipaddress.IPv4Network:
    """The first pool that overlaps none of `taken` (default routes are not in `taken`)."""
    taken = [t for t in taken if t.version == 4]
    for candidate in pools():
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise ValueError("no free subnet left in the default pools: give one with --subnet")


def routed(netns: str = "") -> list[Network]:
    """Every destination routed in the network namespace (this one by default; all tables), but
    default routes. ValueError, with the kernel's reason, if it cannot be read."""
    try:
        return [ipaddress.ip_network(dst, strict=False) for dst in inventory.routed(netns)]
    except CNIError as e:
        raise ValueError(f"cannot read the routes to choose a free subnet ({e}): give one with --subnet") from None


def overlapping(subnet: Network, others: dict[str, list[Network]]) -> list[str]:
    """Names in `others` (name -> subnets) with a subnet overlapping `subnet`."""
    return [name for name, nets in others.items() if any(n.version == subnet.version and n.overlaps(subnet)
                                                        for n in nets)]
