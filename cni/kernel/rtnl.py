"""The rtnetlink requests every bridge ADD and DEL makes, encoded by hand on a plain socket.

pyroute2 0.9 spends about 0.3 ms of CPU per request (an asyncio loop turn and its message classes)
and 200-350 ms on `import pyroute2`; these requests are ~20 per ADD, on every container start. This
module sends what pyroute2 sends for them (same attributes, same flags), with the standard
library only; dumps ask the kernel to filter (strict checking), so their cost does not grow with
the containers on the host. Everything else goes to pyroute2 (see cni.kernel.links.Netlink). Only
cni.kernel uses this module; the rest of pynet calls cni.kernel.links.
"""

from __future__ import annotations

import os
import _socket  # not `socket`: its selectors import costs a cold plugin start a millisecond
import struct

NETLINK_ROUTE = 0
SOL_NETLINK, NETLINK_GET_STRICT_CHK = 270, 12
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RTM_GETNEIGH = 30
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTMGRP_LINK = 0x1
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = \
    1, 3, 4, 5, 10, 18, 20, 28
IFLA_OPERSTATE = 16
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_DATA = 1, 2, 5
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1
NDA_DST, NDA_LLADDR, NDA_IFINDEX = 1, 2, 8
AF_BRIDGE = 7
IFF_UP = 0x1

_HEADER = struct.Struct("=LHHLL")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBi")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BBHiHBB")
_ATTR = struct.Struct("=HH")


class NetlinkError(OSError):
    """The kernel refused a request; `code` is the errno, as pyroute2's NetlinkError has it."""

    def __init__(self, code: int) -> None:
        super().__init__(code, os.strerror(code))
        self.code = code

    def __reduce__(self):
        return NetlinkError, (self.code,)


def attr(kind: int, payload: bytes) -> bytes:
    size = _ATTR.size + len(payload)
    return _ATTR.pack(size, kind) + payload + b"\0" * (-size % 4)


def text(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def ip(kind: int, address: str) -> bytes:
    return attr(kind, _socket.inet_pton(_socket.AF_INET6 if ":" in address else _socket.AF_INET, address))


def mac(kind: int, address: str) -> bytes:
    return attr(kind, bytes.fromhex(address.replace(":", "")))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0, family: int = 0) -> bytes:
    return _IFINFO.pack(family, 0, index, flags, change)


def attributes(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """The attributes in `data` from `offset`: type -> payload (the nested flag dropped)."""
    found = {}
    while offset + _ATTR.size <= len(data):
        size, kind = _ATTR.unpack_from(data, offset)
        if size < _ATTR.size:
            break
        found[kind & 0x3FFF] = data[offset + _ATTR.size:offset + size]
        offset += (size + 3) & ~3
    return found


def messages(data: bytes):
    """The netlink messages in what one recv() brought: (type, sequence number, body) each."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        size, mtype, _, seq, _ = _HEADER.unpack_from(data, offset)
        if size < _HEADER.size:
            break
        yield mtype, seq, data[offset + _HEADER.size:offset + size]
        offset += (size + 3) & ~3


def _address(index: int, address: str, prefix: int) -> bytes:
    """The body naming one address of a link, as pyroute2 sends it (IPv4: also as IFA_LOCAL)."""
    family = _socket.AF_INET6 if ":" in address else _socket.AF_INET
    body = _IFADDR.pack(family, prefix, 0, 0, index) + ip(IFA_ADDRESS, address)
    return body + ip(IFA_LOCAL, address) if family == _socket.AF_INET else body


class Route:
    """A route: its table, destination CIDR, gateway ("" if none) and output link's index (0 if none)."""

    __slots__ = ("table", "dst", "gateway", "oif")

    def __init__(self, table: int, dst: str, gateway: str, oif: int) -> None:
        self.table, self.dst, self.gateway, self.oif = table, dst, gateway, oif


class Link:
    """What a link's RTM_NEWLINK says that pynet needs: `peer` is IFLA_LINK (a veth's peer, a
    macvlan's lower link), `operstate` IF_OPER_* (0 if not given), `data` the kind's own attributes
    (IFLA_INFO_DATA: type -> payload)."""

    __slots__ = ("index", "flags", "name", "mac", "mtu", "master", "peer", "kind", "alias", "operstate", "_data")

    def __init__(self, body: bytes) -> None:
        _, _, self.index, self.flags, _ = _IFINFO.unpack_from(body)
        found = attributes(body, _IFINFO.size)
        self.name = found.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
        self.mac = found[IFLA_ADDRESS].hex(":") if IFLA_ADDRESS in found else None
        self.mtu = struct.unpack("=I", found[IFLA_MTU])[0] if IFLA_MTU in found else 0
        self.master = struct.unpack("=I", found[IFLA_MASTER])[0] if IFLA_MASTER in found else None
        self.peer = struct.unpack("=I", found[IFLA_LINK])[0] if IFLA_LINK in found else None
        info = attributes(found.get(IFLA_LINKINFO, b""))
        self.kind = info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode()
        self._data = info.get(IFLA_INFO_DATA, b"")
        self.alias = found.get(IFLA_IFALIAS, b"").rstrip(b"\0").decode(errors="replace")
        self.operstate = found.get(IFLA_OPERSTATE, b"\0")[0]

    @property
    def data(self) -> dict[int, bytes]:
        """The kind's own attributes (read when asked: a bridge has some forty)."""
        return attributes(self._data)


class NetlinkSocket:
    """A netlink socket of one protocol, in the namespace it was opened in; one request at a time."""

    def __init__(self, protocol: int, groups: int = 0) -> None:
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, protocol)
        self.sock.bind((0, groups))  # groups: the notifications it listens to (RTMGRP_*)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[bytes]:
        """Send one request; the bodies of the kernel's answers (all parts of a dump)."""
        return list(self.replies(kind, flags, body))

    def replies(self, kind: int, flags: int, body: bytes):
        """Send one request; yield the bodies of the kernel's answers as they arrive. A caller that
        stops early must close the generator (or read it out) before the next request."""
        self.seq += 1
        seq = self.seq
        self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body)
        while True:
            for mtype, mseq, payload in messages(self.sock.recv(65536)):
                if mseq != seq:
                    continue  # the answer to an earlier request that was given up on
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", payload)
                    if error:
                        raise NetlinkError(-error)
                    return  # the ACK closes a non-dump request
                yield payload
                if not flags & NLM_F_ACK and not flags & NLM_F_DUMP:
                    return


class Rtnl(NetlinkSocket):
    """A NETLINK_ROUTE socket. Dumps are filtered by the kernel where it can (strict checking), so
    asking for one link's addresses does not cost a message per address of the namespace."""

    def __init__(self, groups: int = 0) -> None:
        super().__init__(NETLINK_ROUTE, groups)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        except OSError:  # before Linux 4.20: the dump is filtered here instead
            pass

    def deleted_links(self) -> list[str]:
        """The names in the RTM_DELLINK notifications of what one recv() brings (a socket opened
        with groups=RTMGRP_LINK)."""
        return [Link(payload).name for mtype, _, payload in messages(self.sock.recv(65536)) if mtype == RTM_DELLINK]

    # links

    def get_link(self, index: int = 0, name: str = "") -> Link:
        body = ifinfo(index) + (text(IFLA_IFNAME, name) if name else b"")
        return Link(self.request(RTM_GETLINK, NLM_F_ACK, body)[0])

    def links(self, master: int) -> list[Link]:
        """The links whose master is link `master` (the kernel filters the dump)."""
        return [Link(body) for body in self.request(RTM_GETLINK, NLM_F_DUMP, ifinfo() + u32(IFLA_MASTER, master))]

    def set_link(self, index: int, up: bool | None = None, master: int | None = None, mtu: int = 0,
                 alias: str = "", address: str = "", name: str = "", netns_fd: int | None = None,
                 flags: int = 0, change: int = 0) -> None:
        """One RTM_NEWLINK changing the link's master, MTU, alias, MAC, name, namespace, up/down state
        and the `change` bits of its flags to `flags` (only those given)."""
        if up is not None:
            flags, change = (flags | IFF_UP) if up else (flags & ~IFF_UP), change | IFF_UP
        body = ifinfo(index, flags, change)
        if master is not None:
            body += u32(IFLA_MASTER, master)
        if mtu:
            body += u32(IFLA_MTU, mtu)
        if alias:
            body += text(IFLA_IFALIAS, alias)
        if address:
            body += mac(IFLA_ADDRESS, address)
        if name:
            body += text(IFLA_IFNAME, name)
        if netns_fd is not None:
            body += u32(IFLA_NET_NS_FD, netns_fd)
        self.request(RTM_NEWLINK, NLM_F_ACK, body)

    def add_link(self, name: str, kind: str, mtu: int = 0, address: str = "") -> None:
        """A new link of a kind that needs no further attributes (e.g. "bridge"); `address`: its MAC,
        set by the user as far as the kernel is concerned (a bridge then never takes a port's)."""
        body = ifinfo() + text(IFLA_IFNAME, name) + (u32(IFLA_MTU, mtu) if mtu else b"")
        if address:
            body += mac(IFLA_ADDRESS, address)
        body += attr(IFLA_LINKINFO, text(IFLA_INFO_KIND, kind))
        self.request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def add_veth(self, name: str, peer: str, peer_netns_fd: int | None, mtu: int = 0, address: str = "") -> None:
        """A veth pair: `name` here, `peer` in the namespace of `peer_netns_fd` (None: here too)."""
        body = ifinfo() + text(IFLA_IFNAME, name)
        if mtu:
            body += u32(IFLA_MTU, mtu)
        if address:
            body += mac(IFLA_ADDRESS, address)
        where = u32(IFLA_NET_NS_FD, peer_netns_fd) if peer_netns_fd is not None else b""
        peer_info = attr(VETH_INFO_PEER, ifinfo() + text(IFLA_IFNAME, peer) + where)
        body += attr(IFLA_LINKINFO, text(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, peer_info))
        self.request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def set_hairpin(self, index: int, on: bool = True) -> None:
        """Hairpin mode of a bridge port (traffic may leave by the port it came in)."""
        data = attr(IFLA_INFO_SLAVE_DATA, attr(IFLA_BRPORT_MODE, bytes([int(on)])))
        self.request(RTM_NEWLINK, NLM_F_ACK, ifinfo(index) + attr(IFLA_LINKINFO, text(IFLA_INFO_KIND, "bridge_slave")
                                                                      + data))

    def delete_link(self, index: int) -> None:
        self.request(RTM_DELLINK, NLM_F_ACK, ifinfo(index))

    # addresses and routes

    def add_address(self, index: int, address: str, prefix: int, flags: int = 0) -> None:
        body = _address(index, address, prefix) + (u32(IFA_FLAGS, flags) if flags else b"")
        self.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def delete_address(self, index: int, address: str, prefix: int) -> None:
        self.request(RTM_DELADDR, NLM_F_ACK, _address(index, address, prefix))

    def addresses(self, index: int, family: int) -> list[str]:
        """The link's addresses of one family as CIDR strings."""
        found = []
        for body in self.request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(family, 0, 0, 0, index)):
            afamily, prefix, _, _, aindex = _IFADDR.unpack_from(body)
            value = attributes(body, _IFADDR.size).get(IFA_ADDRESS)
            if aindex == index and afamily == family and value:
                found.append(f"{_socket.inet_ntop(family, value)}/{prefix}")
        return found

    def add_route(self, index: int, dst: str, gateway: str = "") -> None:
        """A main-table route to `dst` (CIDR) through the link, via `gateway` if given."""
        address, _, length = dst.partition("/")
        family = _socket.AF_INET6 if ":" in address else _socket.AF_INET
        length = int(length) if length else (128 if family == _socket.AF_INET6 else 32)
        body = _RTMSG.pack(family, length, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, 0, RTN_UNICAST, 0)
        if length:
            body += ip(RTA_DST, address)
        body += u32(RTA_OIF, index)
        if gateway:
            body += ip(RTA_GATEWAY, gateway)
        self.request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    # whole-namespace dumps (the admin command line's inventory, cni.kernel.inventory)

    def all_links(self) -> list[Link]:
        """Every link of the namespace."""
        return [Link(body) for body in self.request(RTM_GETLINK, NLM_F_DUMP, ifinfo())]

    def all_addresses(self) -> list[tuple[int, str, int]]:
        """Every address of the namespace, both families: (link index, CIDR, scope). The local
        address where the kernel gives one (IFA_LOCAL: the far end is IFA_ADDRESS on a point-to-point
        link), as `ip address` shows it."""
        found = []
        for body in self.request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(0, 0, 0, 0, 0)):
            family, prefix, _, scope, index = _IFADDR.unpack_from(body)
            attrs = attributes(body, _IFADDR.size)
            value = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            if family in (_socket.AF_INET, _socket.AF_INET6) and value:
                found.append((index, f"{_socket.inet_ntop(family, value)}/{prefix}", scope))
        return found

    def routes(self, family: int = _socket.AF_UNSPEC, table: int = 0, oif: int = 0) -> list[Route]:
        """Every route of one family (both: AF_UNSPEC) in every table, of every type (local,
        broadcast, unreachable ... too): what `ip route show table all` lists; only those of `table`
        and through link `oif` if given (the kernel filters the dump)."""
        found = []
        body = _RTMSG.pack(family, 0, 0, 0, table if table < 256 else 0, 0, 0, 0, 0)
        body += (u32(RTA_TABLE, table) if table else b"") + (u32(RTA_OIF, oif) if oif else b"")
        for body in self.request(RTM_GETROUTE, NLM_F_DUMP, body):
            rfamily, length, _, _, rtable = _RTMSG.unpack_from(body)[:5]
            if rfamily not in (_socket.AF_INET, _socket.AF_INET6) or family not in (_socket.AF_UNSPEC, rfamily):
                continue
            attrs = attributes(body, _RTMSG.size)
            dst, gateway = attrs.get(RTA_DST), attrs.get(RTA_GATEWAY)
            address = _socket.inet_ntop(rfamily, dst) if dst else ("::" if rfamily == _socket.AF_INET6 else "0.0.0.0")
            route = Route(struct.unpack("=I", attrs[RTA_TABLE])[0] if RTA_TABLE in attrs else rtable,
                          f"{address}/{length}", _socket.inet_ntop(rfamily, gateway) if gateway else "",
                          struct.unpack("=I", attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0)
            if (not table or route.table == table) and (not oif or route.oif == oif):  # an old kernel's whole dump
                found.append(route)
        return found

    def neighbours(self, index: int, family: int) -> list[tuple[str, str, int]]:
        """(destination, link-layer address, NUD state) of a link's neighbour entries of `family`;
        AF_BRIDGE: its forwarding database (a VXLAN device's: the remote's underlay address as
        destination, "" for none). Addresses absent are ""."""
        found = []
        request = _NDMSG.pack(family, 0, 0, 0, 0, 0, 0) + u32(NDA_IFINDEX, index)
        for body in self.request(RTM_GETNEIGH, NLM_F_DUMP, request):
            nfamily, _, _, nindex, state, _, _ = _NDMSG.unpack_from(body)
            if nfamily != family or nindex != index:
                continue
            attrs = attributes(body, _NDMSG.size)
            dst, lladdr = attrs.get(NDA_DST), attrs.get(NDA_LLADDR)
            found.append((_socket.inet_ntop(_socket.AF_INET6 if len(dst) == 16 else _socket.AF_INET, dst) if dst else "",
                          lladdr.hex(":") if lladdr else "", state))
        return found

    def route_destinations(self, family: int) -> list[str]:
        """The destination (CIDR; 0.0.0.0/0 or ::/0 for a default route) of every route of `family`."""
        return [route.dst for route in self.routes(family)]
