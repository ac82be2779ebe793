"""cni.dns.message: queries parsed, answers built byte for byte, and nothing but its own signals
escapes on any input (hypothesis)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cni.dns import message as m
from tests.integration.dns_client import flip

# `dig @gw Web.Dns.Podman` as dig 9.18 sends it: id 0x1234, RD and AD, EDNS with a cookie option.
DIG_QUERY = (bytes.fromhex("123401200001000000000001") + b"\x03Web\x03Dns\x06Podman\x00" + b"\x00\x01\x00\x01"
             + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x0c" + b"\x00\x0a\x00\x08" + bytes(range(8)))


def test_a_query_as_dig_sends_it():
    q = m.parse(DIG_QUERY)
    assert (q.id, q.qtype, q.qclass, q.rd, q.edns, q.payload, q.version) == (0x1234, m.A, m.IN, True, True, 1232, 0)
    assert q.name == b"\x03web\x03dns\x06podman\x00"  # lowercased for lookups
    assert q.question == b"\x03Web\x03Dns\x06Podman\x00\x00\x01\x00\x01"  # the client's case, echoed


def test_an_answer_byte_for_byte():
    q = m.parse(DIG_QUERY)
    got = m.response(q, answers=[(m.A, m.rdata(m.A, "10.89.0.5"))], ttl=5)
    assert got == (bytes.fromhex("1234" "8580" "0001000100000001")  # QR AA RD RA, 1 answer, OPT
                   + q.question
                   + bytes.fromhex("c00c 0001 0001 00000005 0004 0a590005".replace(" ", ""))
                   + bytes.fromhex("00 0029 04d0 00000000 0000".replace(" ", "")))
    assert m.answers(got) == (0x1234, 0x8580, b"\x03web\x03dns\x06podman\x00", [(m.A, "10.89.0.5")])


def test_nxdomain_servfail_and_rd_copied():
    q = m.parse(m.query("nope.dns.podman", m.AAAA, id=7, rd=False))
    nx = m.response(q, m.NXDOMAIN)
    assert struct.unpack("!HH", nx[:4]) == (7, m.QR | m.AA | m.RA | m.NXDOMAIN)
    fail = m.servfail(m.parse(m.query("x.example", id=8)))
    assert struct.unpack("!HH", fail[:4]) == (8, m.QR | m.RD | m.RA | m.SERVFAIL)


@pytest.mark.parametrize("address, name", [("10.89.0.5", "5.0.89.10.in-addr.arpa."),
                                           ("fd00::1", "1." + "0." * 29 + "d.f.ip6.arpa.")])
def test_ptr_round_trip(address, name):
    assert m.decode_name(m.reverse_name(address)) == name
    q = m.parse(m.query(name, m.PTR, id=3))
    assert q.name == m.reverse_name(address)
    reply = m.response(q, answers=[(m.PTR, m.rdata(m.PTR, "web.dns.podman"))])
    assert m.answers(reply)[3] == [(m.PTR, "web.dns.podman.")]


def test_aaaa_round_trip():
    q = m.parse(m.query("web", m.AAAA, edns=True))
    reply = m.response(q, answers=[(m.AAAA, m.rdata(m.AAAA, "fd00::5"))])
    assert m.answers(reply)[3] == [(m.AAAA, "fd00::5")]


def test_pointers_are_followed_backwards_only():
    reply = m.response(m.parse(m.query("web")), answers=[(m.PTR, m.rdata(m.PTR, "web"))])
    reply += b"\x01x\xc0\x0c"  # a name at the end: label x, then the question's name by pointer
    assert m.decode_name(m.read_name(reply, len(reply) - 4)[0]) == "x.web."
    loop = bytes.fromhex("000100000001000000000000") + b"\x03web\xc0\x0c\x00\x01\x00\x01"
    with pytest.raises(m.Malformed):  # back to its own start: a loop
        m.parse(loop)


@pytest.mark.parametrize("data, why", [
    (bytes.fromhex("000100000001000000000000") + b"\xc0\x0c\x00\x01\x00\x01", "pointer to itself"),
    (bytes.fromhex("000100000001000000000000") + b"\x01a\xc0\x0e\x00\x01\x00\x01", "pointer forwards"),
    (bytes.fromhex("000100000001000000000000") + b"\x40" + b"a" * 64 + b"\0\0\1\0\1", "label type 01"),
    (bytes.fromhex("000100000001000000000000") + (b"\x3f" + b"a" * 63) * 4 + b"\0\0\1\0\1", "name > 255"),
    (bytes.fromhex("000100000002000000000000") + b"\0\0\1\0\1", "two questions"),
    (bytes.fromhex("000100000001000000000000") + b"\x03web\0\0\1", "truncated question"),
    (bytes.fromhex("000100000001000000000001") + b"\0\0\1\0\1" + b"\0\0\x29\x04", "truncated OPT"),
    (bytes.fromhex("000100000001000000000002") + b"\0\0\1\0\1" + (b"\0\0\x29\x04\xd0\0\0\0\0\0\0") * 2, "two OPTs"),
])
def test_malformed_queries_get_formerr(data, why):
    with pytest.raises(m.Malformed):
        m.parse(data)
    reply = m.formerr(data)
    assert struct.unpack("!HHHHHH", reply) == (1, m.QR | m.RA | m.FORMERR, 0, 0, 0, 0), why


def test_what_has_no_header_or_is_a_response_is_dropped():
    for data in (b"", b"\x12\x34", bytes(11), m.response(m.parse(m.query("a")))):
        with pytest.raises(m.Drop):
            m.parse(data)


def test_other_opcodes_are_not_implemented():
    data = bytearray(m.query("a", id=9))
    data[2] |= 0x10  # opcode 2 (STATUS)
    with pytest.raises(m.Malformed) as e:
        m.parse(bytes(data))
    assert e.value.rcode == m.NOTIMP
    reply = m.formerr(bytes(data), e.value.rcode)
    assert struct.unpack_from("!HH", reply) == (9, m.QR | m.RA | m.RD | 0x1000 | m.NOTIMP)


def test_an_unknown_edns_version_gets_badvers():
    data = bytearray(m.query("web", edns=True))
    data[-5] = 1  # OPT ttl: extended rcode 0, version 1
    reply = m.response(m.parse(bytes(data)), answers=[(m.A, m.rdata(m.A, "10.0.0.1"))])
    assert struct.unpack("!H", reply[6:8]) == (0,) and reply[-6] == 1  # no answer; extended rcode 1 (16)


def test_names_are_checked():
    assert m.encode_name("Web.") == b"\x03web\x00" and m.encode_name("") == b"\0"
    for bad in ("a..b", "x" * 64, ".".join(["abcdefgh"] * 29)):
        with pytest.raises(ValueError):
            m.encode_name(bad)


def survive(data: bytes) -> None:
    """What the server does with a datagram: parse, answer; only the codec's signals may escape."""
    try:
        q = m.parse(data)
    except m.Drop:
        return
    except m.Malformed as e:
        assert m.answers(m.formerr(data, e.rcode))[:2][0] == struct.unpack_from("!H", data)[0]
        return
    reply = m.response(q, answers=[(m.A, m.rdata(m.A, "10.0.0.1"))], ttl=1)
    assert m.answers(reply)[2] == q.name


VALID = [m.query("web.dns.podman", id=1), m.query("x", m.AAAA, edns=True), DIG_QUERY,
         m.query("5.0.89.10.in-addr.arpa", m.PTR)]


@settings(max_examples=3000)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data):
    survive(data)


@settings(max_examples=3000)
@given(st.sampled_from(VALID), st.integers(0, 600), st.lists(st.integers(0, 8 * 600), max_size=8))
def test_fuzz_truncated_and_flipped_queries(valid, cut, flips):
    survive(flip((valid, cut, flips)))


@settings(max_examples=2000)
@given(st.lists(st.one_of(st.binary(min_size=1, max_size=5).map(lambda b: bytes([len(b)]) + b),
                          st.integers(0, 0x3FFF).map(lambda p: struct.pack("!H", 0xC000 | p)),
                          st.just(b"\0")), max_size=20), st.binary(max_size=8))
def test_fuzz_names_with_pointers_anywhere(parts, tail):
    survive(bytes.fromhex("abcd01000001000000000001") + b"".join(parts) + tail)
