"""libnftables is asked only when the kernel takes a netfilter netlink socket: the library ends its
process with exit(3) otherwise (seen on a kernel whose nf_tables module nothing loads; the real case
runs in tests/vm/guest_without_nftables.py)."""

from __future__ import annotations

import errno

import pytest

from cni.firewall import libnft
from cni.kernel import rtnl
from cni.firewall.nftables import Nftables
from cni.spec import CNIError, errors


class Refusing:
    AF_NETLINK, SOCK_RAW, SOCK_CLOEXEC = 16, 3, 0o2000000

    def socket(self, *args):
        raise OSError(errno.EPROTONOSUPPORT, "Protocol not supported")


@pytest.fixture
def no_nftables(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "_socket", Refusing())
    monkeypatch.setattr(rtnl, "NetlinkSocket", lambda protocol: Refusing().socket())  # nfnl's lookups
    monkeypatch.setattr(libnft, "_home", None)  # no kept context: a new one is asked for

    def library_called(*args):
        raise AssertionError("libnftables was called")
    monkeypatch.setattr(libnft, "_library", lambda: type("Lib", (), {"nft_ctx_new": library_called,
                                                                      "nft_ctx_free": library_called})())


def test_run_raises_unavailable_before_the_library(no_nftables):
    with pytest.raises(libnft.Unavailable, match="Protocol not supported"):
        libnft.run("list ruleset")


def test_removal_finds_nothing_and_an_addition_is_a_clear_error(no_nftables):
    driver = Nftables()
    driver.release("net", "net/id-c1/eth0")  # nothing to remove, listing the tables
    driver.release("net", "net/id-c1/eth0", ["10.1.0.2/24"])  # or looking the addresses up
    driver.remove("net/id-c1/eth0", "ports", [{"address": "10.1.0.2/24", "protocol": "tcp", "host_port": 8080,
                                               "host_ip": "", "container_port": 80, "snat": True}])
    assert driver.owners("net") == set()
    with pytest.raises(CNIError) as raised:
        driver.add_masquerade("net", "net/id-c1/eth0", ["10.1.0.2/24"], ["10.1.0.0/24"])
    assert raised.value.code == errors.NOT_AVAILABLE
    assert "Protocol not supported" in raised.value.msg and "modprobe nf_tables" in raised.value.details
