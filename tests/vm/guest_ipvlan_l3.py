"""Runs inside a VM (see conftest.py): pynet-ipvlan l3/l3s, CHECK, rollback, bad input, and the one
receive handler a master has (macvlan and ipvlan cannot share it)."""

from __future__ import annotations

import pytest

from tests.netns import plugin_path
from tests.netns.lan import lan_cni, lan_conf, lan_lab, ping

pytestmark = pytest.mark.root

IPVLAN = plugin_path("ipvlan")
MACVLAN = plugin_path("macvlan")


@pytest.fixture
def lab(make_netns, tmp_path):
    return lan_lab(make_netns, tmp_path)


def cni(lab, command, config, container="c1", **kw):
    return lan_cni(IPVLAN, lab, command, config, container, **kw)


@pytest.mark.parametrize("mode", ["l3", "l3s"])
def test_l3_containers_reach_each_other_and_the_lan_needs_a_route(mode, lab):
    config = lan_conf(lab, "ipvlan", mode)
    assert cni(lab, "ADD", config, "c1").ok and cni(lab, "ADD", config, "c2").ok
    assert f"mode {mode} " in lab["c1"].run("ip", "-d", "link", "show", "eth0").stdout
    assert ping(lab["c1"], "192.168.50.3") and ping(lab["c2"], "192.168.50.2")
    assert not ping(lab["c1"], "192.168.50.100")  # l3 answers no ARP: the LAN cannot find 192.168.50.2
    mac = lab["host"].links()["m0"]["address"]
    lab["lan"].run("ip", "neigh", "replace", "192.168.50.2", "lladdr", mac, "dev", "lan0")
    assert ping(lab["c1"], "192.168.50.100")


def test_check_notices_another_mode_and_a_missing_address(lab):
    config = lan_conf(lab, "ipvlan", "l2")
    result = cni(lab, "ADD", config).json
    checked = cni(lab, "CHECK", {**config, "mode": "l3", "prevResult": result})
    assert checked.returncode != 0 and checked.json["code"] == 105
    assert "mode is l2, expected l3" in checked.json["details"]
    lab["c1"].run("ip", "addr", "flush", "dev", "eth0")
    checked = cni(lab, "CHECK", {**config, "prevResult": result})
    assert checked.returncode != 0 and "address 192.168.50.2/24 missing" in checked.json["details"]


@pytest.mark.parametrize("extra,text", [
    ({"master": "nope0"}, "master nope0 not found"),
    ({"mode": "foo"}, "invalid mode"),
    ({"mtu": 1600}, "mtu larger than the master's"),
])
def test_bad_configuration_leaves_nothing(extra, text, lab):
    before, container_before = lab["host"].snapshot(switches=True), lab["c1"].snapshot(switches=True)
    run = cni(lab, "ADD", {**lan_conf(lab, "ipvlan", "l2"), **extra})
    assert run.returncode != 0 and run.json["code"] == 7 and text in run.json["msg"], run.stdout
    assert lab["host"].snapshot(switches=True) == before and lab["c1"].snapshot(switches=True) == container_before


@pytest.mark.parametrize("first,second", [("ipvlan", "macvlan"), ("macvlan", "ipvlan")])
def test_macvlan_and_ipvlan_cannot_share_a_master(first, second, lab):
    plugins = {"ipvlan": (IPVLAN, "l2"), "macvlan": (MACVLAN, "bridge")}
    assert lan_cni(plugins[first][0], lab, "ADD", lan_conf(lab, first, plugins[first][1]), "c1").ok
    before, container_before = lab["host"].snapshot(switches=True), lab["c2"].snapshot(switches=True)
    run = lan_cni(plugins[second][0], lab, "ADD", lan_conf(lab, second, plugins[second][1]), "c2")
    assert run.returncode != 0 and run.json["code"] == 7, run.stdout
    assert f"m0 already carries {first} links" in run.json["details"] and "EBUSY" in run.json["details"]
    assert lab["host"].snapshot(switches=True) == before and lab["c2"].snapshot(switches=True) == container_before


def test_mtu(lab):
    lab["host"].run("ip", "link", "set", "m0", "mtu", "1400")
    added = cni(lab, "ADD", lan_conf(lab, "ipvlan", "l2", mtu=1300))
    assert added.ok, added.stdout
    assert lab["c1"].links()["eth0"]["mtu"] == 1300
    too_big = cni(lab, "ADD", lan_conf(lab, "ipvlan", "l2", mtu=1500), "c2")
    assert too_big.returncode != 0 and too_big.json["code"] == 7 and "mtu 1500 > m0" in too_big.json["details"]


@pytest.mark.parametrize("fail_at", [1, 2])
def test_failure_after_every_step_rolls_back(fail_at, lab):
    before, container_before = lab["host"].snapshot(switches=True), lab["c1"].snapshot(switches=True)
    run = cni(lab, "ADD", lan_conf(lab, "ipvlan", "l2"), env={"PYNET_FAIL_AT": str(fail_at)})
    assert run.returncode != 0 and "injected fault" in run.json["msg"]
    assert lab["host"].snapshot(switches=True) == before and lab["c1"].snapshot(switches=True) == container_before


def test_link_in_container_and_del_after_the_netns_is_gone(lab):
    lab["host"].run("ip", "link", "set", "m0", "netns", lab["c1"].name)
    lab["c1"].run("ip", "link", "set", "m0", "up")
    config = lan_conf(lab, "ipvlan", "l2", linkInContainer=True)
    added = cni(lab, "ADD", config)
    assert added.ok, added.stdout
    assert lab["c1"].links()["eth0"]["link"] == "m0"
    assert ping(lab["c1"], "192.168.50.100")
    lab["c1"].delete()
    assert cni(lab, "DEL", config).ok


def test_chained_without_ipam_uses_the_prev_result(lab):
    """No ipam and no master: the addresses and the master come from the previous plugin's result."""
    config = {k: v for k, v in lan_conf(lab, "ipvlan", "l2").items() if k not in ("ipam", "master")}
    config["prevResult"] = {"cniVersion": "1.0.0", "interfaces": [{"name": "m0"}],
                            "ips": [{"address": "192.168.50.9/24"}]}
    added = cni(lab, "ADD", config)
    assert added.ok, added.stdout
    assert added.json["ips"] == [{"interface": 0, "address": "192.168.50.9/24"}]
    assert ping(lab["c1"], "192.168.50.100")
    assert cni(lab, "DEL", config).ok and "eth0" not in lab["c1"].links()
