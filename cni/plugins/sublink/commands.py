"""ADD/DEL/CHECK/STATUS/GC shared by macvlan and ipvlan: a link of the plugin's kind on `master`, made under a
temporary name in the namespace that holds the master, moved into the container and renamed to
CNI_IFNAME; addresses from IPAM (ipvlan may take them from a chained prevResult)."""

from __future__ import annotations

import errno
import os
from functools import partial

from ...ipam import delegate
from ...kernel.links import (NetlinkError, create_sublink, default_route_link, delete_link, kernel_knows, link_index,
                             move_to, netlink, no_support, rename, sublink_mode, summary)
from ...kernel.netns import NetnsGone, open_netns
from ...kernel.undo import EveryStep, UndoLog
from ...spec import CNIError, Interface, IPConfig, Request, Result
from ...spec import errors
from ..ipconfig import configure, differences
from .config import OTHER, Kind, LinkConf, parse


def _default_route_interface(ipr, kind: Kind) -> str:
    index = default_route_link(ipr)
    if index is None:
        raise CNIError(errors.INVALID_CONFIG, f"{kind.name} needs a master",
                       "no \"master\" is set and there is no default route to take it from")
    return summary(ipr, index).name


def _master(ipr, conf: LinkConf, where: str):
    """The master link (its name, index, mtu, master...)."""
    name = conf.master or _default_route_interface(ipr, conf.kind)
    index = link_index(ipr, name)
    if index is None:
        raise CNIError(errors.INVALID_CONFIG, f"master {name} not found", f"there is no interface {name} in {where}")
    return summary(ipr, index)


def _busy(conf: LinkConf, master) -> CNIError:
    """The kernel's EBUSY, explained: the master's one receive handler is taken."""
    name = master.name
    if master.master:
        why = f"{name} is a bridge or bond port"
    else:
        why = (f"{name} already carries {OTHER[conf.kind.name].name} links (or is a bridge or bond port); "
               "a device carries macvlan or ipvlan links, not both: delete them or use another master")
    return CNIError(errors.INVALID_CONFIG, f"cannot put {conf.kind.a} on {name}", f"{why} (EBUSY)")


def _create(ipr, conf: LinkConf, master, name: str, target_fd: int | None) -> None:
    try:
        create_sublink(ipr, name, conf.kind.name, master.index, conf.kind.modes[conf.mode], conf.mtu, conf.mac)
    except NetlinkError as e:
        if e.code == errno.EBUSY:
            raise _busy(conf, master) from None
        if e.code == errno.EOPNOTSUPP:
            raise no_support(conf.kind.name) from None
        raise
    if target_fd is not None:
        move_to(ipr, link_index(ipr, name), target_fd)


def _make_link(request: Request, conf: LinkConf, container, host, undo: UndoLog) -> int:
    """Create the link, recorded in `undo`; its index in the container, already named CNI_IFNAME."""
    ifname = request.ifname
    if link_index(container, ifname) is not None:
        raise CNIError(errors.IFNAME_EXISTS, f"{ifname} already exists in the container",
                       f"{request.netns} has a link called {ifname}; choose another CNI_IFNAME")
    owner = container if conf.link_in_container else host
    master = _master(owner, conf, "the container" if conf.link_in_container else "the host")
    if conf.mtu and conf.mtu > master.mtu:
        raise CNIError(errors.INVALID_CONFIG, "mtu larger than the master's",
                       f"mtu {conf.mtu} > {master.name}'s {master.mtu}")
    temporary = ifname if conf.link_in_container else conf.kind.prefix + os.urandom(4).hex()
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
    undo.done(f"{conf.kind.name} {ifname}", lambda: delete_link(container, temporary) or delete_link(container, ifname))
    index = link_index(container, temporary)
    if temporary != ifname:
        rename(container, index, ifname)
    return index


def add(request: Request, kind: Kind) -> Result:
    conf = parse(request, kind)
    with netlink(request.netns) as container, netlink() as host, UndoLog() as undo:
        index = _make_link(request, conf, container, host, undo)
        if request.config.ipam:
            ipam = delegate.add(request)
            undo.done("IPAM reservation", lambda: delegate.call(request, "DEL"))
        else:  # no IPAM: a chained prevResult's addresses (ipvlan), or none (macvlan)
            ipam = request.config.prev_result or Result()
        configure(container, index, request, ipam, ipam.routes)
        interface = Interface(name=request.ifname, mac=summary(container, index).mac,
                              sandbox=request.netns)
    ips = tuple(IPConfig(address=ip.address, gateway=ip.gateway, interface=0) for ip in ipam.ips)
    return Result(interfaces=(interface,), ips=ips, routes=ipam.routes, dns=ipam.dns)


def delete(request: Request, kind: Kind) -> None:
    """The link goes (its addresses with it), then the address reservation: each step runs even if
    the other fails (a missing IPAM plugin leaves no link behind)."""
    parse(request, kind)
    with EveryStep() as steps:
        if request.netns:
            steps.run(f"deleting {request.ifname}", _delete_link, request)
        if request.config.ipam:
            steps.run("releasing the address (IPAM DEL)", delegate.call, request, "DEL")


def _delete_link(request: Request) -> None:
    try:
        with netlink(request.netns) as container:
            delete_link(container, request.ifname)
    except NetnsGone:
        pass


def gc(request: Request, kind: Kind) -> None:
    """The link of a stale attachment lives in its container's namespace (gone with it, as the spec
    lets GC assume): what is left on the host is its reservation, which the IPAM plugin's GC frees."""
    parse(request, kind)
    if request.config.ipam:
        delegate.call(request, "GC")


def check(request: Request, kind: Kind) -> None:
    conf = parse(request, kind)
    prev = request.prev_result()
    problems = []
    with netlink(request.netns) as container:
        index = link_index(container, request.ifname)
        found = summary(container, index) if index is not None else None
        if found is None or found.kind != kind.name:
            raise CNIError(errors.CHECK_FAILED, f"{request.ifname} is missing or not {kind.a} in the container")
        mode = kind.mode_name(sublink_mode(container, index))
        if mode != conf.mode:
            problems.append(f"mode is {mode}, expected {conf.mode}")
        problems += differences(container, index, request.ifname, [ip.address for ip in prev.ips], prev.routes)
        master_index = found.peer
        if conf.link_in_container:
            wanted = _master(container, conf, "the container").index
    if not conf.link_in_container:
        with netlink() as host:
            wanted = _master(host, conf, "the host").index
    if master_index != wanted:
        problems.append(f"the master is not {conf.master or 'the default route interface'}")
    if problems:
        raise CNIError(errors.CHECK_FAILED, f"the {kind.name} attachment is not as ADD left it", "; ".join(problems))
    if request.config.ipam:
        delegate.call(request, "CHECK")


def status(request: Request, kind: Kind) -> None:
    """Code 50 when the kernel cannot make this kind of link; else the IPAM plugin's STATUS."""
    if not kernel_knows(kind.name):
        error = no_support(kind.name)
        raise CNIError(errors.NOT_AVAILABLE, error.msg, error.details)
    if request.config.ipam:
        delegate.call(request, "STATUS")


def for_kind(kind: Kind) -> tuple:
    """add, delete, check, status and gc of the plugin of `kind` (a plugin's commands module)."""
    return tuple(partial(command, kind=kind) for command in (add, delete, check, status, gc))
