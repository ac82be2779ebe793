"""cni.kernel.rtnl encodes what pyroute2 0.9 sends for the same requests (bodies captured with
strace from pyroute2 during a bridge ADD), and parses the kernel's answers. No root needed: the
requests go to a fake socket that records them and answers as the kernel would."""

import socket
import struct

import pytest

from cni.kernel import rtnl


class FakeSocket:
    def __init__(self, answers):
        self.sent, self.answers = [], list(answers)

    def send(self, data):
        self.sent.append(data)
        return len(data)

    def recv(self, size):
        return self.answers.pop(0)

    def close(self):
        pass


def message(kind, seq, body, flags=0):
    return struct.pack("=LHHLL", 16 + len(body), kind, flags, seq, 0) + body


def ack(seq, error=0):
    return message(rtnl.NLMSG_ERROR, seq, struct.pack("=i", error) + b"\0" * 16)


def client(*answers):
    c = rtnl.Rtnl.__new__(rtnl.Rtnl)
    c.sock, c.seq = FakeSocket(answers), 0
    return c


def sent(c):
    """(type, flags, body) of each request sent."""
    return [(struct.unpack_from("=H", d, 4)[0], struct.unpack_from("=H", d, 6)[0], d[16:]) for d in c.sock.sent]


# request bodies pyroute2 0.9.7 sent (strace -xx), header fields aside
Z16 = "00" * 16  # an empty ifinfomsg
PYROUTE2 = {
    "get eth0": Z16 + "09000300" "6574683000000000",
    "bridge": Z16 + "0b000300" "706e636170300000" "08000400" "78050000" "10001200" "0b000100" "6272696467650000",
    "bridge with mac": Z16 + "0b000300" "706e636170300000" "08000400" "78050000" "0a000100" "021122334455" "0000"
                       "10001200" "0b000100" "6272696467650000",
    "up 2": "00000000" "02000000" "01000000" "01000000",
    "veth": Z16 + "09000300" "6574683000000000" "08000400" "78050000" "40001200" "09000100" "7665746800000000"
            "30000200" "2c000100" + Z16 + "10000300" "706e763961626566616465" "00" "08001c00" "0c000000",
    "hairpin 3": "00000000" "03000000" "00000000" "00000000" "24001200" "11000100"
                 "6272696467655f736c61766500000000" "0c000500" "05000400" "01000000",
    "addr4": "02180000" "02000000" "08000100" "0a590002" "08000200" "0a590002",
    "addr6 nodad": "0a400000" "02000000" "14000100" "fd000089000000000000000000000001" "08000800" "02000000",
    "route4": "02180000" "fe040001" "00000000" "08000100" "c0a80700" "08000400" "02000000" "08000500" "0a590009",
    "route6 default": "0a000000" "fe040001" "00000000" "08000400" "02000000" "14000500"
                      "fd000089000000000000000000000001",
}


def hexed(c):
    return [body.hex() for _, _, body in sent(c)]


def test_requests_match_pyroute2():
    c = client(*[ack(n) for n in range(1, 9)])
    c.add_link("pncap0", "bridge", 1400)
    c.set_link(2, up=True)
    c.add_veth("eth0", "pnv9abefade", 12, mtu=1400)
    c.set_hairpin(3)
    c.add_address(2, "10.89.0.2", 24)
    c.add_address(2, "fd00:89::1", 64, flags=0x02)
    c.add_route(2, "192.168.7.0/24", "10.89.0.9")
    c.add_route(2, "::/0", "fd00:89::1")
    want = ["bridge", "up 2", "veth", "hairpin 3", "addr4", "addr6 nodad", "route4", "route6 default"]
    assert hexed(c) == [PYROUTE2[w] for w in want]
    kinds = [(k, f) for k, f, _ in sent(c)]
    create = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    assert kinds == [(16, create), (16, 5), (16, create), (16, 5), (20, create), (20, create), (24, create),
                     (24, create)]


def test_bridge_with_its_own_mac_matches_pyroute2():
    """`ip link add ... address` as pyroute2 sends it: IFLA_ADDRESS after IFLA_MTU, in the create
    request itself (so the kernel marks the address as set and the bridge never follows a port's)."""
    c = client(ack(1))
    c.add_link("pncap0", "bridge", 1400, address="02:11:22:33:44:55")
    assert hexed(c) == [PYROUTE2["bridge with mac"]]


def link_answer(seq, index, name, mac, kind="", master=None, peer=None, flags=0x1043):
    body = rtnl.ifinfo(index, flags) + rtnl.text(rtnl.IFLA_IFNAME, name)
    body += rtnl.attr(rtnl.IFLA_ADDRESS, bytes.fromhex(mac.replace(":", "")))
    if master is not None:
        body += rtnl.u32(rtnl.IFLA_MASTER, master)
    if peer is not None:
        body += rtnl.u32(rtnl.IFLA_LINK, peer)
    if kind:
        body += rtnl.attr(rtnl.IFLA_LINKINFO | 0x8000, rtnl.text(rtnl.IFLA_INFO_KIND, kind))
    return message(rtnl.RTM_NEWLINK, seq, body) + ack(seq)


def test_get_link_by_name_parses_the_answer():
    c = client(link_answer(1, 7, "eth0", "02:aa:bb:cc:dd:ee", kind="veth", master=3, peer=9))
    found = c.get_link(name="eth0")
    assert hexed(c) == [PYROUTE2["get eth0"]]
    assert (found.index, found.name, found.mac, found.kind, found.master, found.peer) == \
        (7, "eth0", "02:aa:bb:cc:dd:ee", "veth", 3, 9)
    assert found.flags & rtnl.IFF_UP


def test_error_answer_raises_with_errno():
    c = client(ack(1, -19))
    with pytest.raises(rtnl.NetlinkError) as failure:
        c.get_link(name="nosuch0")
    assert failure.value.code == 19 and "No such device" in str(failure.value)


def test_answers_to_other_requests_are_skipped():
    c = client(ack(41) + ack(1))  # a late ACK of an abandoned request, then ours
    c.set_link(4, up=False)
    assert sent(c)[0][2] == rtnl.ifinfo(4, 0, rtnl.IFF_UP)


def address(seq, family, prefix, index, text_address):
    raw = socket.inet_pton(family, text_address)
    return message(rtnl.RTM_NEWADDR, seq, struct.pack("=BBBBi", family, prefix, 0, 0, index)
                   + rtnl.attr(rtnl.IFA_ADDRESS, raw), flags=2)


def test_address_dump_filters_by_link_and_reads_every_part():
    part1 = address(1, socket.AF_INET, 24, 2, "10.1.0.1") + address(1, socket.AF_INET, 8, 1, "127.0.0.1")
    part2 = address(1, socket.AF_INET, 16, 2, "10.2.0.1") + message(rtnl.NLMSG_DONE, 1, b"\0" * 4)
    c = client(part1, part2)
    assert c.addresses(2, socket.AF_INET) == ["10.1.0.1/24", "10.2.0.1/16"]
    assert sent(c)[0][1] == rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP


def test_attributes_round_trip_with_padding():
    data = rtnl.text(3, "abc") + rtnl.u32(4, 1500) + rtnl.attr(1, b"\x01\x02\x03\x04\x05\x06")
    assert len(data) % 4 == 0
    assert rtnl.attributes(data) == {3: b"abc\0", 4: struct.pack("=I", 1500), 1: bytes(range(1, 7))}
