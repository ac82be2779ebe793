"""DNS messages (RFC 1035, EDNS of RFC 6891), sans-I/O, standard library only: parse a query, build
the answers pynet's server gives. Names are kept in wire form (length-prefixed labels, uncompressed);
`Query.name` is lowercased (DNS names are case-insensitive, ASCII only), `Query.question` keeps the
client's case, which answers echo.

parse() raises Drop when there is nothing to answer (no header, or a response) and Malformed when
the header is readable but the rest is not (the caller answers `formerr(...)`).
"""

from __future__ import annotations

import ipaddress
import struct

A, NS, CNAME, SOA, PTR, AAAA, OPT, ANY = 1, 2, 5, 6, 12, 28, 41, 255
IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16  # extended rcode (EDNS): upper 8 bits in the OPT record, lower 4 in the header
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
EDNS_PAYLOAD = 1232  # what we announce (the DNS flag day 2020 value)
MAX_NAME = 255
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")  # type, class, ttl, rdlength


class Drop(Exception):
    """Nothing to answer: shorter than a header, or a response (never answer those: no loops)."""


class Malformed(Exception):
    """A readable header and an unreadable rest: answer FORMERR (`formerr(data)`)."""

    def __init__(self, why: str, rcode: int = FORMERR) -> None:
        super().__init__(why)
        self.rcode = rcode


class Query:
    __slots__ = ("id", "flags", "question", "name", "qtype", "qclass", "edns", "payload", "version")

    def __init__(self, id, flags, question, name, qtype, qclass, edns=False, payload=512, version=0):
        self.id, self.flags, self.question, self.name = id, flags, question, name
        self.qtype, self.qclass, self.edns, self.payload, self.version = qtype, qclass, edns, payload, version

    @property
    def rd(self) -> bool:
        return bool(self.flags & RD)


def read_name(data: bytes, offset: int) -> tuple[bytes, int]:
    """The name at `offset` in wire form (pointers followed, case kept) and the offset after it.
    Pointers must point backwards (so no loop is possible); raises Malformed."""
    labels = []
    size = 1
    end = None
    segment = offset  # where the part being read starts: a pointer in it must point before it
    while True:
        if offset >= len(data):
            raise Malformed("name runs past the end")
        length = data[offset]
        if length >= 0xC0:
            if offset + 1 >= len(data):
                raise Malformed("truncated pointer")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if end is None:
                end = offset + 2
            if target >= segment:
                raise Malformed("pointer does not point backwards")
            offset = segment = target
            continue
        if length > 63:
            raise Malformed("bad label type")
        if length == 0:
            return b"".join(labels) + b"\0", end if end is not None else offset + 1
        label = data[offset:offset + 1 + length]
        if len(label) != length + 1:
            raise Malformed("label runs past the end")
        size += length + 1
        if size > MAX_NAME:
            raise Malformed("name longer than 255 bytes")
        labels.append(label)
        offset += length + 1


def parse(data: bytes) -> Query:
    """The query in `data`; raises Drop or Malformed (see the module's docstring)."""
    if len(data) < 12:
        raise Drop("no header")
    id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if flags & QR:
        raise Drop("a response")
    if (flags >> 11) & 0xF:
        raise Malformed("opcode not QUERY", NOTIMP)
    if qdcount != 1 or ancount or nscount:
        raise Malformed("not one question")
    question, offset = read_name(data, 12)
    if offset + 4 > len(data):
        raise Malformed("truncated question")
    qtype, qclass = struct.unpack_from("!HH", data, offset)
    offset += 4
    query = Query(id, flags, question + data[offset - 4:offset], question.lower(), qtype, qclass)
    for _ in range(arcount):
        name, offset = read_name(data, offset)
        if offset + _RR.size > len(data):
            raise Malformed("truncated record")
        rtype, rclass, ttl, rdlength = _RR.unpack_from(data, offset)
        offset += _RR.size + rdlength
        if offset > len(data):
            raise Malformed("truncated record data")
        if rtype == OPT:
            if name != b"\0" or query.edns:
                raise Malformed("bad or second OPT record")
            query.edns, query.payload, query.version = True, max(512, rclass), (ttl >> 16) & 0xFF
    return query


def encode_name(text: str) -> bytes:
    """`text` ("web.dns.podman", a trailing dot or not) in wire form, lowercased; ValueError if it
    is no valid name."""
    text = text.rstrip(".")
    labels = text.encode("ascii").lower().split(b".") if text else []
    if any(not 0 < len(label) <= 63 for label in labels):
        raise ValueError(f"bad DNS name {text!r}")
    wire = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    if len(wire) > MAX_NAME:
        raise ValueError(f"DNS name longer than 255 bytes: {text[:40]!r}...")
    return wire


def decode_name(wire: bytes) -> str:
    """A wire-form name as text (for logs and tests), "." for the root."""
    labels, offset = [], 0
    while wire[offset]:
        labels.append(wire[offset + 1:offset + 1 + wire[offset]].decode("ascii", "backslashreplace"))
        offset += wire[offset] + 1
    return ".".join(labels) + "." if labels else "."


def reverse_name(address: str) -> bytes:
    """The PTR name of an IPv4 or IPv6 address (in-addr.arpa / ip6.arpa), wire form."""
    return encode_name(ipaddress.ip_address(address).reverse_pointer)


def rdata(rtype: int, value: str) -> bytes:
    """The record data of an A, AAAA (an address) or PTR (a name) record."""
    if rtype in (A, AAAA):
        return ipaddress.ip_address(value).packed
    return encode_name(value)


def _opt(query: Query) -> bytes:
    ext = BADVERS >> 4 if query.version else 0
    return b"\0" + _RR.pack(OPT, EDNS_PAYLOAD, ext << 24, 0)


def response(query: Query, rcode: int = NOERROR, answers=(), ttl: int = 0, authoritative: bool = True) -> bytes:
    """The answer to `query`: its id and question, RD copied, RA set, AA if `authoritative`, the
    `answers` ((type, rdata) pairs, owner: the question's name, by a pointer) with `ttl`, an OPT
    record if the query had one (BADVERS for an EDNS version other than 0)."""
    if query.edns and query.version:
        answers, rcode = (), BADVERS & 0xF
    flags = QR | RA | (query.flags & RD) | (AA if authoritative else 0) | rcode
    head = _HEADER.pack(query.id, flags, 1, len(answers), 0, 1 if query.edns else 0)
    records = b"".join(b"\xc0\x0c" + _RR.pack(rtype, IN, ttl, len(data)) + data for rtype, data in answers)
    return head + query.question + records + (_opt(query) if query.edns else b"")


def formerr(data: bytes, rcode: int = FORMERR) -> bytes:
    """The error answer to the unparsable message `data` (at least a header): no question echoed."""
    id, flags = struct.unpack_from("!HH", data)
    keep = flags & (0x7800 | RD)  # opcode and RD
    return _HEADER.pack(id, QR | RA | keep | rcode, 0, 0, 0, 0)


def servfail(query: Query) -> bytes:
    return response(query, SERVFAIL, authoritative=False)


def with_id(message: bytes, id: int) -> bytes:
    return struct.pack("!H", id) + message[2:]


def query(name: str, qtype: int = A, id: int = 0, rd: bool = True, edns: bool = False) -> bytes:
    """A query for `name` (what a client sends; the server forwards such ones and tests use it)."""
    head = _HEADER.pack(id, RD if rd else 0, 1, 0, 0, 1 if edns else 0)
    opt = b"\0" + _RR.pack(OPT, EDNS_PAYLOAD, 0, 0) if edns else b""
    return head + encode_name(name) + struct.pack("!HH", qtype, IN) + opt


def answers(data: bytes) -> tuple[int, int, bytes, list[tuple[int, str]]]:
    """A response's (id, flags, lowercased question name, answers as (type, text)): A and AAAA as
    addresses, PTR and CNAME as names, others as hex. Raises Drop or Malformed."""
    if len(data) < 12:
        raise Drop("no header")
    id, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(data)
    offset, name = 12, b""
    for _ in range(qdcount):
        name, offset = read_name(data, offset)
        offset += 4
    found = []
    for _ in range(ancount):
        _, offset = read_name(data, offset)
        if offset + _RR.size > len(data):
            raise Malformed("truncated record")
        rtype, _, _, rdlength = _RR.unpack_from(data, offset)
        start, offset = offset + _RR.size, offset + _RR.size + rdlength
        if offset > len(data):
            raise Malformed("truncated record data")
        value = data[start:offset]
        if rtype in (A, AAAA):
            found.append((rtype, str(ipaddress.ip_address(value))))
        elif rtype in (PTR, CNAME):
            found.append((rtype, decode_name(read_name(data, start)[0])))
        else:
            found.append((rtype, value.hex()))
    return id, flags, name.lower(), found
