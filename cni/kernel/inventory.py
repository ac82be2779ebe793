"""What the admin command line reads of a namespace: its routed destinations and its links with
their state and addresses, and the few link changes `pynet network` makes.

Whole-namespace dumps over cni.kernel.rtnl (standard library only). A refused request, or a
namespace that is gone, raises CNIError (cni.kernel.links.netlink maps the kernel's errors): never
an empty answer.
"""

from __future__ import annotations

import _socket
import errno
from dataclasses import dataclass

from . import links
from . import rtnl

RT_SCOPE_LINK = 253
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")  # IF_OPER_*


@dataclass(frozen=True)
class LinkState:
    """A link as `pynet topology` shows it."""

    index: int
    name: str
    kind: str  # "bridge", "veth" ... ("" for a link of no kind, such as lo)
    operstate: str  # as `ip link` names it, in lower case: "up", "down", "unknown" ...
    master: str  # the name of its master ("" if none)
    addresses: tuple[str, ...]  # CIDRs, both families, but link-scope ones (IPv6 fe80::)


def routed(netns: str = "") -> list[str]:
    """The destination of every route in every table of both families, but default routes."""
    with links.netlink(netns) as ipr:
        found = [dst for family in (_socket.AF_INET, _socket.AF_INET6)
                 for dst in ipr.rtnl.route_destinations(family)]
    return [dst for dst in found if not dst.endswith("/0")]


def all_links(netns: str = "") -> dict[str, LinkState]:
    """Every link of the namespace by name."""
    with links.netlink(netns) as ipr:
        found = ipr.rtnl.all_links()
        addresses = ipr.rtnl.all_addresses()
    names = {link.index: link.name for link in found}
    return {link.name: LinkState(link.index, link.name, link.kind,
                                 OPERSTATES[link.operstate] if link.operstate < len(OPERSTATES) else "unknown",
                                 names.get(link.master, ""),
                                 tuple(cidr for index, cidr, scope in addresses
                                       if index == link.index and scope != RT_SCOPE_LINK))
            for link in found}


def has_link(name: str, netns: str = "") -> bool:
    """Is there a link called `name` (or with that alternative name)?"""
    with links.netlink(netns) as ipr:
        return _link(ipr, name) is not None


def delete_bridge(name: str, netns: str = "") -> bool:
    """Delete the bridge called `name` if there is one (a link of another kind stays); True if it was."""
    with links.netlink(netns) as ipr:
        link = _link(ipr, name)
        return link is not None and link.kind == "bridge" and links.delete_link(ipr, name)


def _link(ipr, name: str) -> rtnl.Link | None:
    """The link called `name`, None if there is none; any other refusal is raised."""
    if not name or len(name.encode()) > 15:  # no link has such a name (the kernel calls it invalid)
        return None
    try:
        return ipr.rtnl.get_link(name=name)
    except rtnl.NetlinkError as e:
        if e.code != errno.ENODEV:
            raise
        return None
