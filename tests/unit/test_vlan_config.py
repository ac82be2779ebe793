"""macvlan/ipvlan configuration (cni/plugins/sublink/config.py), no kernel."""

from __future__ import annotations

import json

import pytest

from cni.plugins.sublink.config import IPVLAN, MACVLAN, parse
from cni.spec import CNIError, parse_request

ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/c1", "CNI_IFNAME": "eth0"}
IPAM = {"type": "host-local", "subnet": "10.1.0.0/24"}


def request(command="ADD", **keys):
    config = {"cniVersion": "1.0.0", "name": "n", "type": "ipvlan", **keys}
    return parse_request({**ENV, "CNI_COMMAND": command}, json.dumps(config).encode())


def test_ipvlan_defaults():
    conf = parse(request(ipam=IPAM), IPVLAN)
    assert (conf.master, conf.mode, conf.mtu, conf.mac, conf.link_in_container) == ("", "l2", 0, "", False)


@pytest.mark.parametrize("mode", ["l2", "l3", "l3s"])
def test_ipvlan_modes(mode):
    assert parse(request(mode=mode, ipam=IPAM), IPVLAN).mode == mode


def test_ipvlan_has_no_mac_of_its_own():
    assert parse(request(ipam=IPAM, runtimeConfig={"mac": "02:00:00:00:00:01"}), IPVLAN).mac == ""
    assert parse(request(runtimeConfig={"mac": "02:00:00:00:00:01"}), MACVLAN).mac == "02:00:00:00:00:01"


@pytest.mark.parametrize("keys,text", [
    ({"mode": "bridge", "ipam": IPAM}, "ipvlan modes are l2, l3, l3s"),
    ({"mtu": 20, "ipam": IPAM}, "68 to 65535"),
    ({"master": "a b", "ipam": IPAM}, "not an interface name"),
    ({}, "add an \"ipam\" section"),
])
def test_ipvlan_refused(keys, text):
    with pytest.raises(CNIError) as e:
        parse(request(**keys), IPVLAN)
    assert e.value.code == 7 and text in e.value.details


def test_ipvlan_without_ipam_is_fine_for_del():
    assert parse(request("DEL"), IPVLAN).mode == "l2"


def test_chained_ipvlan_takes_addresses_and_master_from_prev_result():
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth9"}], "ips": [{"address": "10.1.0.5/24"}]}
    assert parse(request(prevResult=prev), IPVLAN).master == "eth9"
    prev["interfaces"].append({"name": "eth8"})
    with pytest.raises(CNIError) as e:
        parse(request(prevResult=prev), IPVLAN)
    assert "single named interface" in e.value.details


def test_mode_names_from_the_kernel():
    assert IPVLAN.mode_name(1) == "l3" and IPVLAN.mode_name(2) == "l3s"
    assert MACVLAN.mode_name(4) == "bridge" and MACVLAN.mode_name(1) == "private"
