"""Where the host's DNS server can answer for an attachment: each gateway must be an address of this
host (namespace) on the container's own network, so that the server never listens on a wildcard, a
multicast or a foreign address and ADD's probe of it never leaves the host."""

from __future__ import annotations

import errno
import ipaddress
import socket

from ...spec import errors
from ...spec.errors import CNIError

TENTATIVE = "/proc/thread-self/net/if_inet6"  # this thread's namespace's IPv6 addresses, DAD pending too


def check(gateways: list[str], addresses: list[str]) -> None:
    """Raise a CNI error (code 7) unless every gateway can carry the network's names."""
    networks = [ipaddress.ip_interface(a).network for a in addresses]
    if not networks:
        raise CNIError(errors.INVALID_CONFIG, "dnsname needs the container's addresses",
                       "prevResult has no address of an interface in the container: there is nothing to name")
    for gateway in gateways:
        address = ipaddress.ip_address(gateway)
        if address.is_unspecified or address.is_multicast or address.is_loopback or address.is_link_local:
            raise CNIError(errors.INVALID_CONFIG, f"gateway {gateway} cannot carry the network's names",
                           "the DNS server answers on the network's gateway: not a wildcard, multicast, loopback "
                           "or link-local address")
        if not any(address in network for network in networks):
            raise CNIError(errors.INVALID_CONFIG, f"gateway {gateway} is not on the container's network",
                           f"the container's networks: {', '.join(sorted(map(str, set(networks))))}")
        if not local(address):
            raise CNIError(errors.INVALID_CONFIG, f"gateway {gateway} is not an address of this host",
                           "the DNS server answers on the gateway: it must be on the host's bridge "
                           "(bridge: isGateway true)")


def local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is one of this namespace's own (an IPv6 one still in DAD counts: it will be)."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.bind((str(address), 0))
            return True
        except OSError as e:
            if e.errno != errno.EADDRNOTAVAIL:
                return True  # not for want of the address: ADD's probe tells
    if address.version == 4:
        return False
    try:
        with open(TENTATIVE) as f:
            return any(line.split()[0] == address.exploded.replace(":", "") for line in f if line.strip())
    except OSError:
        return False
