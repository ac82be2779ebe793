"""macvlan ADD/DEL/CHECK: a macvlan link on `master`, made under a temporary name in the namespace
that holds the master, moved into the container and renamed to CNI_IFNAME; addresses from IPAM."""

from __future__ import annotations

import errno
import os

from pyroute2.netlink.exceptions import NetlinkError

from ...ipam import delegate
from ...kernel.links import delete_link, kind, link, link_index, netlink
from ...kernel.netns import NetnsGone, open_netns
from ...kernel.undo import UndoLog
from ...spec import CNIError, Interface, IPConfig, Request, Result
from ...spec import errors
from ..ipconfig import configure, differences
from .config import MacvlanConf, parse

MODE_NAMES = {1: "private", 2: "vepa", 4: "bridge", 8: "passthru"}  # IFLA_MACVLAN_MODE, if undecoded


def _default_route_interface(ipr) -> str:
    for route in ipr.get_routes(family=2, table=254):
        if not route.get("dst") and route.get("oif"):
            return link(ipr, route.get("oif")).get("ifname")
    raise CNIError(errors.INVALID_CONFIG, "macvlan needs a master",
                   "no \"master\" is set and the host has no default route to take it from")


def _master(ipr, conf: MacvlanConf, where: str) -> tuple[str, int, dict]:
    name = conf.master or _default_route_interface(ipr)
    index = link_index(ipr, name)
    if index is None:
        raise CNIError(errors.INVALID_CONFIG, f"master {name} not found", f"there is no interface {name} in {where}")
    return name, index, link(ipr, index)


def _create(ipr, conf: MacvlanConf, master: tuple, name: str, target_fd: int | None) -> None:
    spec = {"ifname": name, "kind": "macvlan", "link": master[1], "macvlan_mode": conf.mode}
    if conf.mtu:
        spec["mtu"] = conf.mtu
    if conf.mac:
        spec["address"] = conf.mac
    try:
        ipr.link("add", **spec)
    except NetlinkError as e:
        if e.code == errno.EBUSY:
            raise CNIError(errors.INVALID_CONFIG, f"cannot put a macvlan on {master[0]}",
                           f"{master[0]} is busy: it is a bridge or bond port, or has ipvlan links") from None
        raise
    if target_fd is not None:
        ipr.link("set", index=link_index(ipr, name), net_ns_fd=target_fd)


def add(request: Request) -> Result:
    conf = parse(request)
    ifname = request.ifname
    with netlink(request.netns) as container, netlink() as host, UndoLog() as undo:
        if link_index(container, ifname) is not None:
            raise CNIError(errors.IFNAME_EXISTS, f"{ifname} already exists in the container",
                           f"{request.netns} has a link called {ifname}; choose another CNI_IFNAME")
        owner = container if conf.link_in_container else host
        master = _master(owner, conf, "the container" if conf.link_in_container else "the host")
        if conf.mtu and conf.mtu > master[2].get("mtu", 0):
            raise CNIError(errors.INVALID_CONFIG, "mtu larger than the master's",
                           f"mtu {conf.mtu} > {master[0]}'s {master[2].get('mtu')}")
        temporary = ifname if conf.link_in_container else "pnm" + os.urandom(4).hex()
        if conf.link_in_container:
            _create(container, conf, master, temporary, None)
        else:
            fd = open_netns(request.netns)
            try:
                _create(host, conf, master, temporary, fd)
            except BaseException:
                delete_link(host, temporary)
                raise
            finally:
                os.close(fd)
        undo.done(f"macvlan {ifname}", lambda: delete_link(container, temporary) or delete_link(container, ifname))
        index = link_index(container, temporary)
        if temporary != ifname:
            container.link("set", index=index, ifname=ifname)
        ipam = Result()
        if request.config.ipam:
            ipam = delegate.add(request)
            undo.done("IPAM reservation", lambda: delegate.call(request, "DEL"))
        configure(container, index, request, ipam, ipam.routes)
        interface = Interface(name=ifname, mac=link(container, index).get("IFLA_ADDRESS"), sandbox=request.netns)
    ips = tuple(IPConfig(address=ip.address, gateway=ip.gateway, interface=0) for ip in ipam.ips)
    return Result(interfaces=(interface,), ips=ips, routes=ipam.routes, dns=ipam.dns)


def delete(request: Request) -> None:
    parse(request)
    if request.config.ipam:
        delegate.call(request, "DEL")
    if request.netns:
        try:
            with netlink(request.netns) as container:
                delete_link(container, request.ifname)
        except NetnsGone:
            pass


def check(request: Request) -> None:
    conf = parse(request)
    prev = request.prev_result()
    problems = []
    with netlink(request.netns) as container:
        index = link_index(container, request.ifname)
        if index is None or kind(link(container, index)) != "macvlan":
            raise CNIError(errors.CHECK_FAILED, f"{request.ifname} is missing or not a macvlan in the container")
        message = link(container, index)
        data = message.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
        mode = data.get_attr("IFLA_MACVLAN_MODE") if data else None
        mode = MODE_NAMES.get(mode, mode)
        if mode != conf.mode:
            problems.append(f"mode is {mode}, expected {conf.mode}")
        problems += differences(container, index, request.ifname, [ip.address for ip in prev.ips], prev.routes)
        master_index = message.get("IFLA_LINK")
    if not conf.link_in_container:
        with netlink() as host:
            wanted = _master(host, conf, "the host")[1]
        if master_index != wanted:
            problems.append(f"the master is not {conf.master or 'the default route interface'}")
    if problems:
        raise CNIError(errors.CHECK_FAILED, "the macvlan attachment is not as ADD left it", "; ".join(problems))
    if request.config.ipam:
        delegate.call(request, "CHECK")
