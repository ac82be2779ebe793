"""ADD brings lo up and reports its addresses; DEL brings it down; CHECK wants it up.

CNI_IFNAME is ignored, as by the reference plugin: there is only one `lo`.
"""

from __future__ import annotations

import ipaddress
import socket

from ...kernel.links import addresses, is_up, link_index, netlink, set_up
from ...kernel.netns import NetnsGone
from ...spec import CNIError, Interface, IPConfig, Request, Result
from ...spec import errors

LOOPBACK_MAC = "00:00:00:00:00:00"


def _lo(ipr) -> int:
    index = link_index(ipr, "lo")
    if index is None:
        raise CNIError(errors.KERNEL, "the network namespace has no lo interface")
    return index


def add(request: Request) -> Result:
    with netlink(request.netns) as ipr:
        index = _lo(ipr)
        set_up(ipr, index)
        found = [addresses(ipr, index, family) for family in (socket.AF_INET, socket.AF_INET6)]
    for address in found[0] + found[1]:
        if not ipaddress.ip_interface(address).ip.is_loopback:
            raise CNIError(errors.INVALID_CONFIG, "lo has a non-loopback address",
                           f"{address} on lo in {request.netns}")
    if request.config.prev_result is not None:
        return request.config.prev_result
    ips = tuple(IPConfig(address=family[0], interface=0) for family in found if family)
    return Result(interfaces=(Interface(name="lo", mac=LOOPBACK_MAC, sandbox=request.netns),), ips=ips)


def delete(request: Request) -> None:
    if not request.netns:
        return
    try:
        with netlink(request.netns) as ipr:
            index = link_index(ipr, "lo")
            if index is not None:
                set_up(ipr, index, up=False)
    except NetnsGone:
        pass


def check(request: Request) -> None:
    with netlink(request.netns) as ipr:
        if not is_up(ipr, _lo(ipr)):
            raise CNIError(errors.CHECK_FAILED, "lo is down", f"lo in {request.netns} is not up")
