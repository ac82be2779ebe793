"""The nf_tables lookups of the nftables driver's hot path, one kernel request each (hand-encoded
netlink, standard library).

libnftables fetches every element of a table's sets before it lists anything or gets a single
element (`nft get element`), so any lookup through it grows with the containers on the host (60 ms
for a table of 3,000 elements). What a container's ADD and DEL need is a table's shape (sets,
chains, rules: no elements), single elements by key with their comment, and whether some element
is left that decides a network's fate: here the first two are one request whose cost does not
depend on how many elements the sets hold, the last a dump that stops at the first it finds.

Keys are written as nft writes them ("10.0.0.5", "tcp . 8080", "br0 . vx0") and encoded by the
types of the set's key ("ipv4_addr", "inet_proto . inet_service", ...).
"""

from __future__ import annotations

import _socket  # not `socket`: its selectors import costs a cold plugin start a millisecond
import struct

from ..kernel import rtnl
from .libnft import NETLINK_NETFILTER, Unavailable, kept

NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETTABLE, NFT_MSG_GETCHAIN, NFT_MSG_GETRULE, NFT_MSG_GETSET, NFT_MSG_GETSETELEM = 1, 4, 7, 10, 13
NFPROTO = {"inet": 1, "ip": 2, "bridge": 7, "ip6": 10}
NFTA_TABLE_NAME = 1
NFTA_CHAIN_TABLE, NFTA_CHAIN_NAME = 1, 3
NFTA_RULE_TABLE = 1
NFTA_SET_TABLE, NFTA_SET_FLAGS = 1, 3
NFT_SET_ANONYMOUS = 0x1
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
NFTA_LIST_ELEM = 1
NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_USERDATA = 1, 6
NFTA_DATA_VALUE = 1
NLA_F_NESTED = 0x8000
UDATA_SET_ELEM_COMMENT = 0  # libnftnl's user data: (type, length, value) entries
ENOENT = 2
PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}
IFNAMSIZ = 16


class Shape:
    """A table's sets (named ones; maps count as sets), chain names and rule count."""

    __slots__ = ("sets", "chains", "rules")

    def __init__(self, sets: int, chains: list[str], rules: int) -> None:
        self.sets, self.chains, self.rules = sets, chains, rules

    @property
    def counts(self) -> tuple[int, int, int]:
        return self.sets, len(self.chains), self.rules


def _nested(kind: int, payload: bytes) -> bytes:
    return rtnl.attr(kind | NLA_F_NESTED, payload)


def _field(kind: str, text: str) -> bytes:
    """One part of a key, padded to 4 bytes as nf_tables lays out concatenations."""
    if kind in ("ipv4_addr", "ipv6_addr"):
        try:
            value = _socket.inet_pton(_socket.AF_INET if kind == "ipv4_addr" else _socket.AF_INET6, text)
        except OSError:
            raise ValueError(f"{text!r} is not an {kind}") from None
    elif kind == "inet_proto":
        value = bytes([PROTOCOLS.get(text) or int(text)])
    elif kind == "inet_service":
        value = int(text).to_bytes(2, "big")
    elif kind == "ifname":
        value = text.encode().ljust(IFNAMSIZ, b"\0")
    else:
        raise ValueError(f"no encoding for nft type {kind}")
    return value + b"\0" * (-len(value) % 4)


def encode_key(types: tuple[str, ...], key: str) -> bytes:
    parts = key.split(" . ")
    if len(parts) != len(types):
        raise ValueError(f"key {key!r} does not match the set's type {' . '.join(types)}")
    return b"".join(_field(kind, part) for kind, part in zip(types, parts))


def _open() -> rtnl.NetlinkSocket:
    try:
        return rtnl.NetlinkSocket(NETLINK_NETFILTER)
    except OSError as e:  # no nf_tables in this kernel: no table either
        raise Unavailable.of(e) from None


def _close(sock: rtnl.NetlinkSocket) -> None:
    sock.close()


def _request(sock: rtnl.NetlinkSocket, message: int, family: str, flags: int, body: bytes):
    header = struct.pack("=BBH", NFPROTO[family], 0, 0)  # nfgenmsg: family, version 0, resource id
    return sock.replies((NFNL_SUBSYS_NFTABLES << 8) | message, flags, header + body)


def _attributes(body: bytes) -> dict[int, bytes]:
    return rtnl.attributes(body, 4)  # after the nfgenmsg


def _text(value: bytes) -> str:
    return value.rstrip(b"\0").decode(errors="replace")


def shape(table: str) -> Shape | None:
    """The shape of `table` ("inet pynet"), or None if there is no such table."""
    family, name = table.split()
    with kept("nfnetlink", _open, _close) as sock:
        try:
            list(_request(sock, NFT_MSG_GETTABLE, family, rtnl.NLM_F_ACK, rtnl.text(NFTA_TABLE_NAME, name)))
        except rtnl.NetlinkError as e:
            if e.code == ENOENT:
                return None
            raise
        sets = 0
        for body in _request(sock, NFT_MSG_GETSET, family, rtnl.NLM_F_DUMP, rtnl.text(NFTA_SET_TABLE, name)):
            found = _attributes(body)
            flags = struct.unpack("!I", found[NFTA_SET_FLAGS])[0] if NFTA_SET_FLAGS in found else 0
            if _text(found.get(NFTA_SET_TABLE, b"")) == name and not flags & NFT_SET_ANONYMOUS:
                sets += 1
        chains = []
        for body in _request(sock, NFT_MSG_GETCHAIN, family, rtnl.NLM_F_DUMP, rtnl.text(NFTA_CHAIN_TABLE, name)):
            found = _attributes(body)
            if _text(found.get(NFTA_CHAIN_TABLE, b"")) == name:
                chains.append(_text(found.get(NFTA_CHAIN_NAME, b"")))
        rules = sum(1 for body in _request(sock, NFT_MSG_GETRULE, family, rtnl.NLM_F_DUMP,
                                           rtnl.text(NFTA_RULE_TABLE, name))
                    if _text(_attributes(body).get(NFTA_RULE_TABLE, b"")) == name)
    return Shape(sets, chains, rules)


def comment(table: str, set_name: str, key: bytes) -> str | None:
    """The comment of the element `key` (encoded, see encode_key) of a set; None if the table, the
    set or the element does not exist ("" for an element without a comment)."""
    family, name = table.split()
    body = (rtnl.text(NFTA_SET_ELEM_LIST_TABLE, name) + rtnl.text(NFTA_SET_ELEM_LIST_SET, set_name)
            + _nested(NFTA_SET_ELEM_LIST_ELEMENTS, _nested(NFTA_LIST_ELEM, _nested(
                NFTA_SET_ELEM_KEY, rtnl.attr(NFTA_DATA_VALUE, key)))))
    with kept("nfnetlink", _open, _close) as sock:
        try:
            answers = list(_request(sock, NFT_MSG_GETSETELEM, family, rtnl.NLM_F_ACK, body))
        except rtnl.NetlinkError as e:
            if e.code == ENOENT:
                return None
            raise
    for element in _elements(answers):
        return _comment(element.get(NFTA_SET_ELEM_USERDATA, b""))
    return None


def find(table: str, set_name: str, wanted) -> bool:
    """Is there an element of the set for which wanted(encoded key, comment) is true? (False if
    there is no such set.) The dump stops at the first; the rest is read past without being parsed."""
    family, name = table.split()
    body = rtnl.text(NFTA_SET_ELEM_LIST_TABLE, name) + rtnl.text(NFTA_SET_ELEM_LIST_SET, set_name)
    with kept("nfnetlink", _open, _close) as sock:
        replies = _request(sock, NFT_MSG_GETSETELEM, family, rtnl.NLM_F_DUMP, body)
        try:
            for answer in replies:
                for element in _elements([answer]):
                    key = rtnl.attributes(element.get(NFTA_SET_ELEM_KEY, b"")).get(NFTA_DATA_VALUE, b"")
                    if wanted(key, _comment(element.get(NFTA_SET_ELEM_USERDATA, b""))):
                        return True
            return False
        except rtnl.NetlinkError as e:
            if e.code == ENOENT:
                return False
            raise
        finally:
            for _ in replies:  # the socket is reused: the dump is read to its end
                pass


def _elements(answers: list[bytes]):
    """The attributes of each element in NEWSETELEM messages."""
    for body in answers:
        listing = _attributes(body).get(NFTA_SET_ELEM_LIST_ELEMENTS, b"")
        offset = 0
        while offset + 4 <= len(listing):
            size, kind = struct.unpack_from("=HH", listing, offset)
            if size < 4:
                break
            if kind & 0x3FFF == NFTA_LIST_ELEM:
                yield rtnl.attributes(listing[offset + 4:offset + size])
            offset += (size + 3) & ~3


def _comment(userdata: bytes) -> str:
    offset = 0
    while offset + 2 <= len(userdata):
        kind, size = userdata[offset], userdata[offset + 1]
        if kind == UDATA_SET_ELEM_COMMENT:
            return _text(userdata[offset + 2:offset + 2 + size])
        offset += 2 + size
    return ""
