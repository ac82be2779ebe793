"""Links and addresses over pyroute2 netlink, in the host or in a container's namespace."""

from __future__ import annotations

from contextlib import contextmanager

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ..spec import CNIError
from ..spec import errors
from .netns import entered

IFF_UP = 0x1


@contextmanager
def netlink(netns: str = ""):
    """An IPRoute socket bound to the namespace at `netns` (the current one if empty)."""
    if netns:
        with entered(netns):
            ipr = IPRoute()
    else:
        ipr = IPRoute()
    try:
        yield ipr
    except NetlinkError as e:
        raise CNIError(errors.KERNEL, "netlink request failed", f"{e.code}: {e.args[-1] if e.args else e}") from None
    finally:
        ipr.close()


def link_index(ipr, name: str) -> int | None:
    """The index of the link called `name`, or None."""
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def is_up(ipr, index: int) -> bool:
    return bool(ipr.get_links(index)[0]["flags"] & IFF_UP)


def set_up(ipr, index: int, up: bool = True) -> None:
    ipr.link("set", index=index, state="up" if up else "down")


def addresses(ipr, index: int, family: int) -> list[str]:
    """The link's addresses of one family (socket.AF_INET/AF_INET6) as CIDR strings."""
    return [f"{a.get('address')}/{a['prefixlen']}" for a in ipr.get_addr(index=index, family=family)]
