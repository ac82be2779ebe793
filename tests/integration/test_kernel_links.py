"""cni.kernel.links' typed operations read and change what `ip` shows (the kernel's own view), and a
refused request is the one NetlinkError whichever netlink client sent it (a CNI error, code 101,
once it leaves `netlink()`)."""

from __future__ import annotations

import errno
import json

import pytest

from cni.kernel import links
from cni.kernel.links import netlink

pytestmark = pytest.mark.root


def details(ns, name: str) -> dict:
    return json.loads(ns.run("ip", "-d", "-j", "link", "show", "dev", name).stdout)[0]


def test_link_details_match_what_ip_shows(host):
    host.run("ip", "link", "add", "pkl0", "mtu", "1400", "type", "veth", "peer", "name", "pkl1")
    host.run("ip", "link", "add", "pkm0", "link", "pkl0", "type", "macvlan", "mode", "private")
    host.run("ip", "addr", "add", "192.0.2.1/24", "dev", "pkl0")
    host.run("ip", "link", "add", "pkx0", "type", "vxlan", "id", "4242", "local", "192.0.2.1", "dstport", "4790",
             "nolearning")
    with netlink(host.path) as ipr:
        veth = links.summary(ipr, links.link_index(ipr, "pkl0"))
        assert (veth.mtu, veth.kind, veth.mac) == (1400, "veth", details(host, "pkl0")["address"])
        macvlan = links.link_index(ipr, "pkm0")
        assert links.summary(ipr, macvlan).peer == veth.index
        assert links.sublink_mode(ipr, macvlan) == 1  # private
        assert links.vxlan_info(ipr, links.link_index(ipr, "pkx0")) == {"vni": 4242, "local": "192.0.2.1",
                                                                       "port": 4790, "learning": 0}
        assert links.vxlan_info(ipr, veth.index) == {}


def test_changes_show_in_ip(host):
    host.run("ip", "link", "add", "pkl0", "type", "veth", "peer", "name", "pkl1")
    with netlink(host.path) as ipr:
        index = links.link_index(ipr, "pkl0")
        links.set_mac(ipr, index, "02:00:00:00:00:42")
        links.set_mtu(ipr, index, 1280)
        links.set_flag(ipr, index, links.IFF_ALLMULTI, True)
        links.rename(ipr, index, "pkl9")
        links.add_address(ipr, index, "198.51.100.7/24")
        links.add_address(ipr, index, "203.0.113.8/24")  # not a secondary: those go with the primary
        links.delete_address(ipr, index, "198.51.100.7/24")
    shown = details(host, "pkl9")
    assert (shown["address"], shown["mtu"], "ALLMULTI" in shown["flags"]) == ("02:00:00:00:00:42", 1280, True)
    addresses = json.loads(host.run("ip", "-j", "addr", "show", "dev", "pkl9").stdout)[0]["addr_info"]
    assert [a["local"] for a in addresses if a["family"] == "inet"] == ["203.0.113.8"]


def test_a_refusal_is_one_error_type_from_either_client(host):
    with netlink(host.path) as ipr:
        with pytest.raises(links.NetlinkError) as by_rtnl:
            links.set_mtu(ipr, 999999, 1280)  # no such link
        with pytest.raises(links.NetlinkError) as by_pyroute2:
            links.create_sublink(ipr, "pkm0", "macvlan", 999999, 4)
    assert by_rtnl.value.code == by_pyroute2.value.code == errno.ENODEV


def test_a_refusal_that_escapes_is_a_cni_kernel_error(host):
    from cni.spec import CNIError, errors

    with pytest.raises(CNIError) as raised:
        with netlink(host.path) as ipr:
            links.set_mtu(ipr, 999999, 1280)
    assert raised.value.code == errors.KERNEL and "No such device" in raised.value.details
