"""Runs inside a VM (see conftest.py): pynet-bridge's VLANs on the stock Debian kernel, whose bridge
has VLAN filtering (the development machine's kernel has none)."""

from __future__ import annotations

import json

import pytest

from cni.spec import SUPPORTED
from tests.netns import install_plugins, plugin_path, run_plugin
from tests.netns.lan import ping

pytestmark = pytest.mark.root

BRIDGE = plugin_path("bridge")


@pytest.fixture
def lab(make_netns, tmp_path, token):
    host, c1, c2, c3 = make_netns("h"), make_netns("a"), make_netns("b"), make_netns("c")
    return {"host": host, "c1": c1, "c2": c2, "c3": c3, "cni_path": install_plugins(tmp_path / "bin"),
            "data": str(tmp_path / "ipam"), "bridge": f"pnq{token}"[:11]}


def conf(lab, name="vnet", subnet="10.60.0.0/24", version="1.0.0", **extra) -> dict:
    return {"cniVersion": version, "name": name, "type": "bridge", "bridge": lab["bridge"],
            "ipam": {"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": subnet, **extra.pop("range", {})}]]},
            **extra}


def cni(lab, command, config, container):
    return run_plugin(BRIDGE, command, config, netns=lab[container].path, container_id=f"id-{container}",
                      cni_path=lab["cni_path"], host=lab["host"].name)


def port_vlans(lab, port: str) -> dict[int, set[str]]:
    """The bridge port's VLANs, {vid: flags}, as `bridge -j vlan show` reports them."""
    shown = json.loads(lab["host"].run("bridge", "-j", "vlan", "show", "dev", port).stdout or "[]")
    found = {}
    for entry in shown:
        for v in entry.get("vlans", []):
            for vid in range(v["vlan"], v.get("vlanEnd", v["vlan"]) + 1):
                found[vid] = set(v.get("flags", []))
    return found


def host_end(result) -> str:
    return result["interfaces"][1]["name"]


@pytest.mark.parametrize("version", SUPPORTED)
def test_access_vlan_every_version(version, lab):
    config = conf(lab, version=version, vlan=10)
    added = cni(lab, "ADD", config, "c1")
    assert added.ok, added.stdout
    result = added.json
    assert port_vlans(lab, host_end(result)) == {10: {"PVID", "Egress Untagged"}}  # VLAN 1 removed
    details = lab["host"].run("ip", "-d", "link", "show", lab["bridge"]).stdout
    assert "vlan_filtering 1" in details
    if version >= "0.4.0":
        assert cni(lab, "CHECK", {**config, "prevResult": result}, "c1").ok
    for _ in range(2):
        assert cni(lab, "DEL", {**config, "prevResult": result}, "c1").ok
    assert "eth0" not in lab["c1"].links()


def test_vlans_separate_containers_on_one_bridge(lab):
    """c1 and c2 in VLAN 10, c3 in VLAN 20, all three in one subnet: only c1 and c2 meet."""
    ten = conf(lab, "ten", vlan=10, range={"rangeStart": "10.60.0.10", "rangeEnd": "10.60.0.19"})
    twenty = conf(lab, "twenty", vlan=20, range={"rangeStart": "10.60.0.20", "rangeEnd": "10.60.0.29"})
    for config, container in ((ten, "c1"), (ten, "c2"), (twenty, "c3")):
        added = cni(lab, "ADD", config, container)
        assert added.ok, added.stdout
    assert ping(lab["c1"], "10.60.0.11") and ping(lab["c2"], "10.60.0.10")
    assert not ping(lab["c1"], "10.60.0.20") and not ping(lab["c3"], "10.60.0.11")


def test_trunk_port_carries_tagged_vlans(lab):
    trunk = conf(lab, "trunk", subnet="10.61.0.0/24", vlanTrunk=[{"id": 30}, {"minID": 40, "maxID": 42}])
    access = conf(lab, "access", subnet="10.62.0.0/24", vlan=30)
    first, second = cni(lab, "ADD", trunk, "c1"), cni(lab, "ADD", access, "c2")
    assert first.ok and second.ok, first.stdout + second.stdout
    vlans = port_vlans(lab, host_end(first.json))
    assert vlans == {1: {"PVID", "Egress Untagged"}, 30: set(), 40: set(), 41: set(), 42: set()}
    # a tagged sub-interface in the trunk container reaches the VLAN 30 access container
    c1 = lab["c1"]
    c1.run("ip", "link", "add", "link", "eth0", "name", "eth0.30", "type", "vlan", "id", "30")
    c1.run("ip", "addr", "add", "10.62.0.200/24", "dev", "eth0.30")
    c1.run("ip", "link", "set", "eth0.30", "up")
    address = second.json["ips"][0]["address"].split("/")[0]
    assert ping(c1, address)


def test_gateway_of_a_vlan_and_preserved_default_vlan(lab):
    config = conf(lab, vlan=10, isGateway=True, preserveDefaultVlan=True)
    added = cni(lab, "ADD", config, "c1")
    assert added.ok, added.stdout
    result = added.json
    gateway = f"{lab['bridge']}.10"
    assert result["interfaces"][3]["name"] == gateway
    assert "10.60.0.1/24" in lab["host"].run("ip", "-o", "addr", "show", "dev", gateway).stdout
    assert ping(lab["c1"], "10.60.0.1")
    # VLAN 1 stays (untagged on egress), the access VLAN takes the PVID
    assert port_vlans(lab, host_end(result)) == {1: {"Egress Untagged"}, 10: {"PVID", "Egress Untagged"}}
    assert cni(lab, "CHECK", {**config, "prevResult": result}, "c1").ok
    assert cni(lab, "DEL", {**config, "prevResult": result}, "c1").ok


def test_existing_bridge_without_vlan_filtering_is_refused(lab):
    lab["host"].run("ip", "link", "add", lab["bridge"], "type", "bridge")
    added = cni(lab, "ADD", conf(lab, vlan=10), "c1")
    assert added.returncode != 0
    error = added.json
    assert error["code"] == 7 and "has no VLAN filtering" in error["msg"]
    assert "eth0" not in lab["c1"].links()
    assert "vlan_filtering 0" in lab["host"].run("ip", "-d", "link", "show", lab["bridge"]).stdout
