"""WireGuard devices: made over rtnetlink, keyed and given peers over the kernel's WireGuard generic
netlink family (pyroute2's WireGuard socket, opened in the Netlink's namespace). A refusal is the
one NetlinkError, as everywhere in cni.kernel; a kernel without WireGuard is a CNIError naming the
module.
"""

from __future__ import annotations

import errno
from contextlib import contextmanager

from .links import NetlinkError, kernel_knows, no_support
from .netns import entered


def create(ipr, name: str, mtu: int = 0) -> None:
    """A new WireGuard device; a CNIError naming the module if the kernel has none."""
    try:
        ipr.rtnl.add_link(name, "wireguard", mtu)
    except NetlinkError as e:
        if e.code == errno.EOPNOTSUPP:
            raise no_support("wireguard") from None
        raise


@contextmanager
def _genl(ipr):
    from pyroute2 import WireGuard
    from pyroute2.netlink.exceptions import NetlinkError as Refused

    with entered(ipr.netns_path):  # a socket belongs to the namespace it is made in
        sock = WireGuard()
    try:
        yield sock
    except Refused as e:
        raise NetlinkError(e.code) from None
    finally:
        sock.close()


def configure(ipr, name: str, private_key: str, port: int) -> None:
    """The device's private key (base64) and UDP port."""
    with _genl(ipr) as wg:
        wg.set(name, private_key=private_key, listen_port=port)


def settings(ipr, name: str) -> tuple[int, str]:
    """The device's (UDP port, public key in base64; "" before it has a private key)."""
    with _genl(ipr) as wg:
        for message in wg.info(name):
            key = message.get_attr("WGDEVICE_A_PUBLIC_KEY")
            return message.get_attr("WGDEVICE_A_LISTEN_PORT") or 0, key.decode() if key else ""
    return 0, ""


def peers(ipr, name: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The device's peers: public key (base64) -> (endpoint "address:port" or "", allowed CIDRs)."""
    found = {}
    with _genl(ipr) as wg:
        for message in wg.info(name):
            for peer in message.get_attr("WGDEVICE_A_PEERS") or []:
                endpoint = peer.get_attr("WGPEER_A_ENDPOINT") or {}
                found[peer.get_attr("WGPEER_A_PUBLIC_KEY").decode()] = (
                    f"{endpoint['addr']}:{endpoint['port']}" if endpoint.get("addr") else "",
                    tuple(sorted(ip["addr"] for ip in peer.get_attr("WGPEER_A_ALLOWEDIPS") or [])))
    return found


def set_peer(ipr, name: str, public_key: str, endpoint: str, allowed: tuple[str, ...]) -> None:
    """Add or update a peer: its endpoint ("address:port") and allowed CIDRs (replacing the old ones)."""
    address, port = endpoint.rsplit(":", 1)
    with _genl(ipr) as wg:
        wg.set(name, peer={"public_key": public_key, "endpoint_addr": address, "endpoint_port": int(port),
                           "allowed_ips": list(allowed), "replace_allowed_ips": True})


def remove_peer(ipr, name: str, public_key: str) -> None:
    with _genl(ipr) as wg:
        wg.set(name, peer={"public_key": public_key, "remove": True})


def has_support() -> bool:
    """Whether this kernel can make WireGuard devices (asked by trying)."""
    return kernel_knows("wireguard")

