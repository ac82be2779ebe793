"""cni.dns.records (what each gateway answers) and cni.dns.upstream's choice of resolvers."""

from __future__ import annotations

import os

from cni.dns import message as m
from cni.dns import records, upstream
from cni.dns.records import Attachment


def lab(tmp_path) -> str:
    where = str(tmp_path / "records")
    records.write(where, Attachment("a", "c1", "eth0", ["web", "www"], ["10.1.0.2/24", "fd01::2/64"],
                                    ["10.1.0.1", "fd01::1"], "dns.podman"))
    records.write(where, Attachment("a", "c2", "eth0", ["db"], ["10.1.0.3/24"], ["10.1.0.1"], "dns.podman"))
    records.write(where, Attachment("b", "c3", "eth0", ["other"], ["10.2.0.2/24"], ["10.2.0.1"], "dns.podman"))
    return where


def test_each_gateway_answers_its_network(tmp_path):
    views = records.views(records.load(lab(tmp_path)).values())
    assert sorted(views) == ["10.1.0.1", "10.2.0.1", "fd01::1"]
    a, b = views["10.1.0.1"], views["10.2.0.1"]
    assert a.lookup(m.encode_name("WEB.dns.podman".lower()), m.A) == (m.NOERROR, [(m.A, bytes([10, 1, 0, 2]))])
    assert a.lookup(m.encode_name("db"), m.AAAA) == (m.NOERROR, [])  # the name exists, no such record
    assert a.lookup(m.reverse_name("10.1.0.3"), m.PTR) == (m.NOERROR, [(m.PTR, m.encode_name("db.dns.podman"))])
    for name in ("other", "other.dns.podman", "nothing.dns.podman"):
        assert a.lookup(m.encode_name(name), m.A) == (m.NXDOMAIN, [])
    assert a.lookup(m.reverse_name("10.2.0.2"), m.PTR) == (m.NXDOMAIN, [])  # b's container: not told
    assert a.lookup(m.encode_name("example.com"), m.A) is None  # upstream's
    assert a.lookup(m.encode_name(""), m.NS) is None
    assert b.lookup(m.encode_name("other"), m.A)[1] and b.lookup(m.encode_name("web"), m.A)[0] == m.NXDOMAIN
    assert a.admits("10.1.0.200") and not a.admits("10.2.0.2") and not a.admits("192.0.2.1")


def test_changes_and_stray_files(tmp_path):
    where = lab(tmp_path)
    known = records.load(where)
    assert records.remove(where, "a", "c2", "eth0") and not records.remove(where, "a", "c2", "eth0")
    (tmp_path / "records" / "junk.json").write_text("{not json")
    (tmp_path / "records" / ".pynet-half").write_text("{")
    changed = {records.file_name("a", "c2", "eth0"), "junk.json", ".pynet-half"}
    again = records.load(where, changed, known)
    assert sorted(a.containerId for a in again.values()) == ["c1", "c3"] == sorted(
        a.containerId for a in records.load(where).values())
    bad = Attachment("a", "c9", "eth0", ["x"], ["not an address"], ["10.1.0.1"])
    records.write(where, bad)
    assert records.read(os.path.join(where, bad.file_name())) is None


def test_upstreams_skip_loopback_ones_and_keep_a_scope(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# x\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.2\nnameserver fe80::1%eth0\n"
                    "nameserver bogus\nsearch lan\n")
    assert upstream.upstreams(str(conf)) == ["192.0.2.2", "fe80::1%eth0"]
    assert upstream.nameservers(str(tmp_path / "missing")) == []
    assert upstream.without(["10.1.0.1", "192.0.2.2"], {"10.1.0.1": None}) == ["192.0.2.2"]
