"""What the bridge-based plugins (bridge, overlay) share: a host bridge, a container attached to it
by a veth pair, the gateway address on the bridge. Every change goes into the caller's undo log."""

from __future__ import annotations

import errno
import os

from ..kernel.links import (IFF_PROMISC, NetlinkError, add_address, add_bridge, all_addresses, attach_port,
                            create_veth, delete_address, delete_link, host_netns_fd, link_index, random_mac, set_flag,
                            set_hairpin, set_up, summary, write_sysctl)
from ..kernel.undo import UndoLog
from ..spec import CNIError
from ..spec import errors

VETH_PREFIX = "pnv"  # host ends of pynet veth pairs: pnv + 8 hex digits


def ensure_bridge(ipr, name: str, undo: UndoLog, mtu: int = 0, promisc: bool = False) -> int:
    """The bridge `name` (created, and undone, if missing), up; its index.

    A new bridge gets its MAC explicitly: left to the kernel, a bridge takes the lowest MAC of its
    ports, and when that container leaves, the gateway's MAC changes under every other container's
    ARP cache (unreachable until their entries expire)."""
    index = link_index(ipr, name)
    flags = None  # of a bridge that was there before
    if index is None and _created_bridge(ipr, name, mtu):
        index = link_index(ipr, name)
        undo.done(f"create bridge {name}", lambda: delete_link(ipr, name))
    elif (found := summary(ipr, index if index is not None else link_index(ipr, name))).kind != "bridge":
        raise CNIError(errors.INVALID_CONFIG, f"{name} is not a bridge",
                       f"a {found.kind or 'non-bridge'} link called {name} exists on the host")
    else:
        index, flags = found.index, found.flags
    if promisc and not (flags or 0) & IFF_PROMISC:
        set_flag(ipr, index, IFF_PROMISC, True)
        if flags is not None:  # a created bridge goes as a whole
            undo.done(f"promiscuous {name}", lambda: set_flag(ipr, index, IFF_PROMISC, False))
    set_up(ipr, index)
    return index


def _created_bridge(ipr, name: str, mtu: int) -> bool:
    """Create the bridge `name`; False if another ADD (of a runtime starting containers at once)
    created it first."""
    try:
        add_bridge(ipr, name, mtu, random_mac())
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
        return False
    return True


def veth_name(ipr) -> str:
    while True:
        name = VETH_PREFIX + os.urandom(4).hex()
        if link_index(ipr, name) is None:
            return name


def attach_veth(container, host, ifname: str, bridge: int, undo: UndoLog, mtu: int = 0, mac: str = "",
                hairpin: bool = False, owner: str = "") -> tuple[str, int, int]:
    """A veth pair: `ifname` in the container, the host end on `bridge` and up, with the attachment's
    `owner` tag as its alias (how GC finds an attachment's veth). Returns (host end name, host end
    index, container end index)."""
    host_name = veth_name(host)
    home = host_netns_fd()
    try:
        create_veth(container, ifname, host_name, home, mtu, mac)
    finally:
        os.close(home)
    undo.done(f"veth {host_name}", lambda: delete_link(host, host_name))
    host_end = link_index(host, host_name)
    attach_port(host, host_end, bridge, mtu, owner)
    if hairpin:
        set_hairpin(host, host_end)
    return host_name, host_end, link_index(container, ifname)


def gateway_on_bridge(ipr, index: int, name: str, ips, undo: UndoLog, force_address: bool = False) -> None:
    """Each IP's gateway as an address of the bridge (with the IP's prefix); forwarding is turned on
    once the ADD has succeeded (`enable_forwarding`)."""
    present = set(all_addresses(ipr, index))
    for ip in ips:
        if not ip.gateway:
            continue
        wanted = f"{ip.gateway}/{ip.address.split('/')[1]}"
        if wanted in present:
            continue
        family = ":" in wanted
        clashing = [a for a in present if (":" in a) == family]
        if clashing and force_address:
            for old in clashing:
                delete_address(ipr, index, old)
                present.discard(old)
                undo.done(f"address {old} off {name}", lambda a=old: add_address(ipr, index, a, nodad=True))
        add_address(ipr, index, wanted, nodad=True)  # a gateway must answer at once, not after DAD
        present.add(wanted)
        undo.done(f"gateway {wanted} on {name}", lambda a=wanted: delete_address(ipr, index, a))


def enable_forwarding(ips) -> None:
    """Forwarding on for each family of `ips` with a gateway. Only after the ADD succeeded: it is a
    host-wide switch that stays on (as with the reference), so a failed ADD must not turn it on and
    could not safely turn it off again while other ADDs may rely on it."""
    for ipv6 in sorted({":" in ip.address for ip in ips if ip.gateway}):
        write_sysctl("net.ipv6.conf.all.forwarding" if ipv6 else "net.ipv4.ip_forward", "1")


def _master(ipr, index: int) -> int | None:
    try:
        return summary(ipr, index).master
    except NetlinkError:  # no such link
        return None


def attachment_problems(request, bridge_name: str) -> tuple[list[str], list[str]]:
    """CHECK of a veth attachment against prevResult: (problems, the container's expected addresses).
    The container end must be a veth with the addresses and routes, its host end on the bridge."""
    from ..kernel.links import netlink
    from .ipconfig import differences

    prev = request.prev_result()
    mine = [n for n, i in enumerate(prev.interfaces) if i.name == request.ifname and i.sandbox]
    if not mine:
        raise CNIError(errors.CHECK_FAILED, f"prevResult has no interface {request.ifname} in a sandbox")
    expected = [ip.address for ip in prev.ips if ip.interface == mine[0]]
    problems = []
    with netlink(request.netns) as container:
        inside = link_index(container, request.ifname)
        found = summary(container, inside) if inside is not None else None
        if found is None or found.kind != "veth":
            raise CNIError(errors.CHECK_FAILED, f"{request.ifname} is missing or not a veth in the container")
        problems += differences(container, inside, request.ifname, expected, prev.routes)
        peer = found.peer
    with netlink() as host:
        bridge = link_index(host, bridge_name)
        if bridge is None:
            problems.append(f"bridge {bridge_name} is missing")
        elif peer is None or _master(host, peer) != bridge:
            problems.append(f"the host end of {request.ifname} is not on {bridge_name}")
    return problems, expected
