"""Links, addresses, routes, neighbours and FDB entries over netlink, in the host or in a
container's namespace: the typed operations pynet does to the kernel, each taking a `Netlink`.

The requests every bridge ADD and DEL makes go through cni.kernel.rtnl (hand-encoded, standard
library); everything else through pyroute2, imported and opened only when first needed. Nothing
outside cni.kernel sees either: a refused request raises `NetlinkError` (errno in `code`) whichever
sent it, and `netlink()` turns one that escapes into the CNI error (code 101).
"""

from __future__ import annotations

import os
import _socket  # not `socket`: its selectors import costs a cold plugin start a millisecond
import sys
from contextlib import contextmanager

from ..spec import CNIError
from ..spec import errors
from . import rtnl
from .netns import entered, open_netns

IFF_UP = 0x1
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200
RT_TABLE_MAIN = 254


NetlinkError = rtnl.NetlinkError  # the one error of a refused request


class Netlink:
    """Netlink in one namespace, for this module's functions: `rtnl` for the hot path, pyroute2's
    IPRoute (opened in the same namespace on first use) through `call` for the rest."""

    def __init__(self, netns: str = "") -> None:
        self._ns = open_netns(netns or "/proc/thread-self/ns/net")  # for pyroute2, if it is needed
        self._ipr = None
        try:
            if netns:
                with entered(netns):
                    self.rtnl = rtnl.Rtnl()
            else:
                self.rtnl = rtnl.Rtnl()
        except BaseException:
            os.close(self._ns)
            raise

    def call(self, method: str, *args, **kw):
        """IPRoute's `method`; a dump is read out, a refusal raised as our NetlinkError."""
        if self._ipr is None:
            from pyroute2 import IPRoute

            with entered(self.netns_path):
                self._ipr = IPRoute()
        from pyroute2.netlink.exceptions import NetlinkError as Refused

        try:
            answer = getattr(self._ipr, method)(*args, **kw)
            return list(answer) if hasattr(answer, "__next__") else answer
        except Refused as e:
            raise NetlinkError(e.code) from None

    @property
    def netns_path(self) -> str:
        """A path to the namespace (for another kind of netlink socket, made there)."""
        return f"/proc/self/fd/{self._ns}"

    def close(self) -> None:
        self.rtnl.close()
        if self._ipr is not None:
            self._ipr.close()
        os.close(self._ns)


@contextmanager
def netlink(netns: str = ""):
    """Netlink bound to the namespace at `netns` (the current one if empty)."""
    ipr = Netlink(netns)
    try:
        yield ipr
    except NetlinkError as e:
        raise CNIError(errors.KERNEL, "netlink request failed", f"{os.strerror(e.code)} ({e.code})") from None
    finally:
        ipr.close()


def link_index(ipr, name: str) -> int | None:
    """The index of the link called `name`, or None."""
    try:
        return ipr.rtnl.get_link(name=name).index
    except rtnl.NetlinkError:
        return None


_known_kinds: set[str] = set()  # a kind the kernel knows stays known (a module is not unloaded under a link)


def kernel_knows(kind: str) -> bool:
    """Can this kernel make links of `kind`, a kind made on a lower link (macvlan, ipvlan)? Built in,
    loaded, or loadable on demand: asked by trying, not by looking for module files. The request to
    make one without a lower link is refused as invalid if the kernel knows the kind (after loading
    its module if need be), as not supported if it does not; nothing is made either way. A known kind
    is remembered; an unknown one is asked again next time (a module may be installed meanwhile)."""
    import errno

    if kind in _known_kinds:
        return True
    probe, name = rtnl.Rtnl(), "pnk" + os.urandom(4).hex()
    try:
        probe.add_link(name, kind)
    except rtnl.NetlinkError as e:
        known = e.code != errno.EOPNOTSUPP  # EINVAL (no lower link) means known; EPERM tells nothing
    else:  # a kind that needs no lower link after all: made, so known
        probe.delete_link(probe.get_link(name=name).index)
        known = True
    finally:
        probe.close()
    if known:
        _known_kinds.add(kind)
    return known


def no_support(kind: str) -> CNIError:
    """The error for a kernel that does not know the link kind (netlink answers EOPNOTSUPP; whether
    it knows it: kernel_knows, asked by trying)."""
    return CNIError(errors.KERNEL, f"this kernel has no {kind} support (module {kind})",
                    f"kernel {os.uname().release} cannot create {kind} links: load the module with "
                    f"`modprobe {kind}` or use a kernel built with CONFIG_{kind.upper()}")


def summary(ipr, index: int) -> rtnl.Link:
    """The link's index, flags, name, mac, mtu, master, peer (IFLA_LINK: a veth's peer, a macvlan's
    lower link), kind and the kind's own attributes (see `sublink_mode`, `vxlan_info`)."""
    return ipr.rtnl.get_link(index)


def mac_of(ipr, index: int) -> str | None:
    return summary(ipr, index).mac


def is_up(ipr, index: int) -> bool:
    return bool(summary(ipr, index).flags & IFF_UP)


def set_up(ipr, index: int, up: bool = True) -> None:
    ipr.rtnl.set_link(index, up=up)


def set_flag(ipr, index: int, flag: int, on: bool) -> None:
    """Set or clear one IFF_* flag (IFF_PROMISC, IFF_ALLMULTI) of the link."""
    ipr.rtnl.set_link(index, flags=flag if on else 0, change=flag)


def set_mac(ipr, index: int, mac: str) -> None:
    ipr.rtnl.set_link(index, address=mac)


def set_mtu(ipr, index: int, mtu: int) -> None:
    ipr.rtnl.set_link(index, mtu=mtu)


def rename(ipr, index: int, name: str) -> None:
    ipr.rtnl.set_link(index, name=name)


def move_to(ipr, index: int, netns_fd: int) -> None:
    """Move the link into the namespace of `netns_fd`."""
    ipr.rtnl.set_link(index, netns_fd=netns_fd)


def add_bridge(ipr, name: str, mtu: int = 0, mac: str = "") -> None:
    """A new bridge; with `mac`, the bridge keeps that MAC whatever ports it gets."""
    ipr.rtnl.add_link(name, "bridge", mtu, mac)


def attach_port(ipr, index: int, bridge: int, mtu: int = 0, alias: str = "") -> None:
    """The link becomes a port of `bridge`, up, with `mtu` and `alias` if given."""
    ipr.rtnl.set_link(index, up=True, master=bridge, mtu=mtu, alias=alias)


def set_hairpin(ipr, port: int) -> None:
    ipr.rtnl.set_hairpin(port)


def ports_of(ipr, bridge: int) -> list[rtnl.Link]:
    """The links whose master is `bridge`."""
    return ipr.rtnl.links(master=bridge)


def create_sublink(ipr, name: str, kind: str, lower: int, mode: int, mtu: int = 0, mac: str = "") -> None:
    """A macvlan or ipvlan link `name` on the link `lower`, in `mode` (the kernel's number)."""
    spec = {"ifname": name, "kind": kind, "link": lower, f"{kind}_mode": mode}
    if mtu:
        spec["mtu"] = mtu
    if mac:
        spec["address"] = mac
    ipr.call("link", "add", **spec)


def sublink_mode(ipr, index: int) -> int:
    """A macvlan's or ipvlan's mode, the kernel's number (IFLA_MACVLAN_MODE / IFLA_IPVLAN_MODE)."""
    value = summary(ipr, index).data.get(1, b"")
    return int.from_bytes(value, sys.byteorder) if value else 0


def default_route_link(ipr) -> int | None:
    """The link of the main table's IPv4 default route, if any."""
    for route in ipr.call("get_routes", family=_socket.AF_INET, table=RT_TABLE_MAIN):
        if not route.get("dst") and route.get("oif"):
            return route.get("oif")
    return None


IFLA_BR_VLAN_FILTERING = 7


def vlan_filtering(ipr, bridge: int) -> bool:
    """Is VLAN filtering on for the bridge?"""
    return summary(ipr, bridge).data.get(IFLA_BR_VLAN_FILTERING, b"\0") != b"\0"


def enable_vlan_filtering(ipr, bridge: int) -> None:
    ipr.call("link", "set", index=bridge, kind="bridge", br_vlan_filtering=1)


def bridge_vlan(ipr, command: str, port: int, vid: int, access: bool = False) -> None:
    """Add ("add") or remove ("del") VLAN `vid` on a bridge port: tagged, or with `access` the
    port's PVID, untagged."""
    info = {"vid": vid, "flags": ["pvid", "untagged"]} if access else {"vid": vid}
    ipr.call("vlan_filter", command, index=port, vlan_info=info)


def delete_link(ipr, name: str) -> bool:
    """Delete link `name` if it exists; True if it did."""
    index = link_index(ipr, name)
    if index is None:
        return False
    try:
        ipr.rtnl.delete_link(index)
    except rtnl.NetlinkError as e:
        if e.code != 19:  # ENODEV: gone meanwhile
            raise
    return True


@contextmanager
def deleting_link(netns: str, name: str):
    """Delete link `name` (a veth) in the namespace at `netns` while the with-block runs.

    The block's firewall and IPAM work overlaps the kernel's teardown, and the block ends when the
    kernel has announced the link deleted (RTM_DELLINK in its namespace). By then the veth and its
    peer are unlisted, their addresses, routes and bridge port are gone, and anything that takes
    the rtnl lock sees the end state. The kernel's reply comes 15-40 ms later, after RCU grace
    periods that only free the devices' memory: a thread waits for it in a resident agent, a child
    in a one-shot plugin process (which could not exit while a thread of its own waits; see
    cni.kernel.background). Nothing to delete when the namespace is gone; the deletion's own error,
    if any, is raised here.
    """
    from . import background

    if not netns:
        yield
        return
    done_r, done_w = os.pipe()
    watch = None
    try:
        with entered(netns):  # listening before the deletion starts, so its notice cannot be missed
            watch = rtnl.Rtnl(groups=rtnl.RTMGRP_LINK)
    except (CNIError, OSError):
        pass  # the deletion meets the same problem and reports it (none if the namespace is gone)
    try:
        child = background.fork_detached(keep=(done_w,)) if background.one_shot() else None
        if child == 0:
            try:
                _delete_and_report(netns, name, done_w)
            finally:
                os._exit(0)
        if child is None:
            import threading

            threading.Thread(target=_delete_and_report, args=(netns, name, done_w), name=f"delete {name}",
                             daemon=True).start()
        else:
            os.close(done_w)
        yield
        if watch is not None and _announced_deleted(watch, name, done_r):
            return
        failure = _read_all(done_r)  # the deletion's end (its writer closes the pipe)
        if failure:
            import pickle

            raise pickle.loads(failure)
    finally:
        if watch is not None:
            watch.close()
        os.close(done_r)


def _delete_and_report(netns: str, name: str, report: int) -> None:
    """Delete the link; an error goes pickled into the pipe `report`, which is closed at the end."""
    from .netns import NetnsGone

    try:
        with netlink(netns) as ipr:
            delete_link(ipr, name)
    except NetnsGone:
        pass  # the namespace, and with it the link, is gone already
    except BaseException as e:  # noqa: BLE001 - raised again in the caller
        import pickle

        try:
            os.write(report, pickle.dumps(e))
        except Exception:  # noqa: BLE001 - an error that does not pickle: its text
            os.write(report, pickle.dumps(OSError(getattr(e, "errno", None) or 5, str(e)[:500])))
    finally:
        os.close(report)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _announced_deleted(watch: rtnl.Rtnl, name: str, done: int) -> bool:
    """Wait until `watch` (listening to link notices) sees link `name` deleted: True; or until
    `done` (the deleting thread's pipe) closes first, or notices were lost: False."""
    import select

    poller = select.poll()  # (not select(): an agent serving many requests may hold fds past 1024)
    poller.register(watch.sock, select.POLLIN)
    poller.register(done, select.POLLIN)
    while True:
        if done in {fd for fd, _ in poller.poll()}:
            return False
        try:
            if name in watch.deleted_links():
                return True
        except OSError:  # ENOBUFS: notices were lost; wait for the kernel's reply instead
            return False


def addresses(ipr, index: int, family: int) -> list[str]:
    """The link's addresses of one family (AF_INET/AF_INET6) as CIDR strings."""
    return ipr.rtnl.addresses(index, family)


def all_addresses(ipr, index: int) -> list[str]:
    return addresses(ipr, index, _socket.AF_INET) + addresses(ipr, index, _socket.AF_INET6)


IFA_F_NODAD = 0x02


def add_address(ipr, index: int, cidr: str, nodad: bool = False) -> None:
    """Add `cidr` to the link; `nodad` skips IPv6 duplicate address detection (usable at once)."""
    address, prefix = cidr.split("/")
    ipr.rtnl.add_address(index, address, int(prefix), IFA_F_NODAD if nodad and ":" in address else 0)


def delete_address(ipr, index: int, cidr: str) -> None:
    address, prefix = cidr.split("/")
    ipr.rtnl.delete_address(index, address, int(prefix))


def main_routes(ipr, index: int | None = None) -> list[tuple[str, str]]:
    """(dst CIDR, gateway) of the main table's routes, optionally of one link."""
    if index == 0:
        return []  # no link has index 0 (the dump's filter would take it for none)
    try:
        return [(route.dst, route.gateway) for family in (_socket.AF_INET, _socket.AF_INET6)
                for route in ipr.rtnl.routes(family, table=RT_TABLE_MAIN, oif=index or 0)]
    except NetlinkError as e:
        if e.code != 19:  # ENODEV: no such link, so no routes through it
            raise
        return []


def add_route(ipr, index: int, dst: str, gateway: str = "", **extra) -> None:
    if not extra:
        ipr.rtnl.add_route(index, dst, gateway)
        return
    family = _socket.AF_INET6 if ":" in dst else _socket.AF_INET
    spec = {"dst": dst, "oif": index, "family": family, **extra}
    if gateway:
        spec["gateway"] = gateway
    ipr.call("route", "add", **spec)


def create_veth(container_ipr, ifname: str, host_name: str, host_netns_fd: int | None, mtu: int = 0,
                mac: str = "") -> None:
    """A veth pair: `ifname` in the container's namespace, `host_name` in the host's (None: both in
    the container's)."""
    container_ipr.rtnl.add_veth(ifname, host_name, host_netns_fd, mtu, mac)


def random_mac() -> str:
    """A random locally administered unicast MAC (as the kernel picks for a new bridge)."""
    first, *rest = os.urandom(6)
    return ":".join(f"{b:02x}" for b in ((first & 0xFE) | 0x02, *rest))


def host_netns_fd() -> int:
    """An fd of the namespace this thread is in (for moving links back to it)."""
    return open_netns("/proc/thread-self/ns/net")


def _sysctl_path(name: str) -> str:
    """"net.ipv4.ip_forward" or, for names holding an interface (which may contain dots),
    "net/ipv6/conf/eth0.1/accept_dad"."""
    return "/proc/sys/" + (name if "/" in name else name.replace(".", "/"))


def write_sysctl(name: str, value: str, netns: str = "") -> None:
    """Set a sysctl in `netns` (the current namespace if empty)."""
    path = _sysctl_path(name)
    try:
        if netns:
            with entered(netns):
                fd = os.open(path, os.O_WRONLY)
        else:
            fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise CNIError(errors.KERNEL, f"cannot set {name}", f"{path}: {e.strerror}") from None


def read_sysctl(name: str) -> str:
    with open(_sysctl_path(name)) as f:
        return f.read().strip()


# --- VXLAN, neighbours, FDB (the overlay's remote-host entries) ---

NUD_PERMANENT = 0x80
NTF_SELF = 0x02
RTNH_F_ONLINK = 0x4
AF_BRIDGE = 7


def create_vxlan(ipr, name: str, vni: int, local: str, port: int, mtu: int, mac: str) -> None:
    """A VXLAN device for `vni` bound to the underlay address `local`, learning off: every remote
    VTEP is an explicit neighbour + FDB entry, so the underlay needs no multicast."""
    ipr.call("link", "add", ifname=name, kind="vxlan", vxlan_id=vni, vxlan_local=local, vxlan_port=port,
             vxlan_learning=0, mtu=mtu, address=mac)


IFLA_VXLAN_ID, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING, IFLA_VXLAN_PORT = 1, 4, 7, 15


def vxlan_info(ipr, index: int) -> dict:
    """A VXLAN link's vni, local address, port and learning (empty for other links)."""
    found = summary(ipr, index)
    if found.kind != "vxlan":
        return {}
    data = found.data
    local = data.get(IFLA_VXLAN_LOCAL)
    return {"vni": int.from_bytes(data.get(IFLA_VXLAN_ID, b""), sys.byteorder),
            "local": _socket.inet_ntop(_socket.AF_INET, local) if local else None,
            "port": int.from_bytes(data.get(IFLA_VXLAN_PORT, b""), "big"),
            "learning": int.from_bytes(data.get(IFLA_VXLAN_LEARNING, b""), sys.byteorder)}


def neighbours(ipr, index: int) -> dict[str, str]:
    """Permanent IPv4 neighbours of a link: {ip: mac}."""
    return {dst: mac for dst, mac, state in ipr.rtnl.neighbours(index, _socket.AF_INET) if state & NUD_PERMANENT and mac}


def set_neighbour(ipr, index: int, ip: str, mac: str) -> None:
    ipr.call("neigh", "replace", dst=ip, lladdr=mac, ifindex=index, state=NUD_PERMANENT)


def delete_neighbour(ipr, index: int, ip: str) -> None:
    try:
        ipr.call("neigh", "del", dst=ip, ifindex=index)
    except NetlinkError as e:
        if e.code != 2:  # ENOENT
            raise


def fdb_entries(ipr, index: int) -> dict[str, str]:
    """A VXLAN device's FDB entries with a remote destination: {mac: underlay ip}."""
    return {mac: dst for dst, mac, _ in ipr.rtnl.neighbours(index, rtnl.AF_BRIDGE) if dst and mac != "00:00:00:00:00:00"}


def set_fdb(ipr, index: int, mac: str, dst: str) -> None:
    ipr.call("fdb", "replace", ifindex=index, lladdr=mac, dst=dst, state=NUD_PERMANENT, flags=NTF_SELF)


def delete_fdb(ipr, index: int, mac: str, dst: str) -> None:
    try:
        ipr.call("fdb", "del", ifindex=index, lladdr=mac, dst=dst)
    except NetlinkError as e:
        if e.code != 2:
            raise


RTMGRP_NEIGH, RTMGRP_IPV4_ROUTE = 0x4, 0x40


def entry_notifications(netns: str):
    """A non-blocking netlink socket in the namespace at `netns` that the kernel tells of every change
    of its IPv4 routes and its neighbours (FDB entries included): readable means look again. Its
    `sock` is for select(); close() it."""
    with entered(netns):
        watch = rtnl.Rtnl(groups=RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE)
    watch.sock.setblocking(False)
    return watch


def onlink_routes(ipr, index: int) -> dict[str, str]:
    """IPv4 main-table routes through a link: {dst CIDR: gateway} (gateway "" if none)."""
    return {dst: gw for dst, gw in main_routes(ipr, index) if ":" not in dst}


def set_onlink_route(ipr, index: int, dst: str, gateway: str) -> None:
    """`dst via gateway dev index onlink`: the gateway needs no connected route (a remote VTEP)."""
    ipr.call("route", "replace", dst=dst, gateway=gateway, oif=index, flags=RTNH_F_ONLINK, table=RT_TABLE_MAIN)


def delete_route(ipr, index: int, dst: str) -> None:
    try:
        ipr.call("route", "del", dst=dst, oif=index, table=RT_TABLE_MAIN)
    except NetlinkError as e:
        if e.code not in (2, 3):  # ENOENT, ESRCH
            raise


def ipv4_addresses_of(ipr) -> dict[str, int]:
    """Every IPv4 address of the namespace: {address: link index}."""
    return {a.get("address"): a["index"] for a in ipr.call("get_addr", family=_socket.AF_INET)}
