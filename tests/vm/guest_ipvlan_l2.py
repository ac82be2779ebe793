"""Runs inside a VM (see conftest.py): pynet-ipvlan in l2 mode on the stock Debian kernel."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from cni.spec import SUPPORTED
from tests.netns import install_plugins, plugin_path, reference_path, run_plugin
from tests.netns.lan import lan_cni, lan_conf, lan_lab, ping

pytestmark = pytest.mark.root

IPVLAN = plugin_path("ipvlan")


@pytest.fixture
def lab(make_netns, tmp_path):
    lab = lan_lab(make_netns, tmp_path)
    lab["cni_path"] = install_plugins(tmp_path / "bin")  # ipam.type runs what CNI_PATH resolves it to
    return lab


def cni(lab, command, config, container="c1", **kw):
    return lan_cni(IPVLAN, lab, command, config, container, **{"cni_path": lab["cni_path"], **kw})


@pytest.mark.parametrize("version", SUPPORTED)
def test_add_check_del_every_version(version, lab):
    config = lan_conf(lab, "ipvlan", "l2", version)
    added = cni(lab, "ADD", config)
    assert added.ok, added.stdout + added.stderr
    result = added.json
    assert [(i["name"], i["sandbox"]) for i in result["interfaces"]] == [("eth0", lab["c1"].path)]
    ip = {"interface": 0, "address": "192.168.50.2/24", "gateway": "192.168.50.1"}
    assert result["ips"] == [{"version": "4", **ip} if version < "1.0.0" else ip]
    link = lab["c1"].links()["eth0"]
    assert link["address"] == lab["host"].links()["m0"]["address"] == result["interfaces"][0]["mac"]
    assert ping(lab["c1"], "192.168.50.100")  # the LAN namespace, on the master's segment
    if version >= "0.4.0":
        checked = cni(lab, "CHECK", {**config, "prevResult": result})
        assert checked.ok, checked.stdout
    for _ in range(2):
        assert cni(lab, "DEL", {**config, "prevResult": result}).ok
    assert "eth0" not in lab["c1"].links()
    assert not [n for n in lab["host"].links() if n.startswith("pni")]


def test_two_containers_reach_each_other_and_the_lan(lab):
    config = lan_conf(lab, "ipvlan", "l2")
    assert cni(lab, "ADD", config, "c1").ok and cni(lab, "ADD", config, "c2").ok
    assert ping(lab["c1"], "192.168.50.3") and ping(lab["c2"], "192.168.50.2")
    assert ping(lab["c2"], "192.168.50.100")
    details = lab["c1"].run("ip", "-d", "link", "show", "eth0").stdout
    assert "ipvlan" in details and "mode l2" in details


def test_default_master_is_the_default_route_interface(make_netns, tmp_path):
    """No master: the VM's eth0 (its default route), a tap port of the lab bridge on the machine that
    runs the VM; the container reaches the bridge's address there."""
    if "default" not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout:
        pytest.skip("the VM has no default route")
    container = make_netns("c")
    config = {"cniVersion": "1.1.0", "name": "vmlan", "type": "ipvlan",
              "ipam": {"type": "host-local", "dataDir": str(tmp_path / "ipam"),
                       "ranges": [[{"subnet": "10.77.0.0/24", "rangeStart": "10.77.0.101",
                                    "rangeEnd": "10.77.0.200"}]]}}
    added = run_plugin(IPVLAN, "ADD", config, netns=container.path, container_id="vmlan",
                       cni_path=install_plugins(tmp_path / "bin"))
    try:
        assert added.ok, added.stdout
        assert "ipvlan" in container.run("ip", "-d", "link", "show", "eth0").stdout
        assert ping(container, "10.77.0.254")  # only the VM's eth0 leads there
    finally:
        assert run_plugin(IPVLAN, "DEL", config, netns=container.path, container_id="vmlan",
                          cni_path=str(tmp_path / "bin")).ok


def test_with_the_reference_host_local_and_checked_by_the_reference_ipvlan(lab):
    config = lan_conf(lab, "ipvlan", "l2")
    added = cni(lab, "ADD", config, cni_path="/usr/lib/cni")  # IPAM: /usr/lib/cni/host-local
    assert added.ok, added.stdout
    reservation = os.path.join(lab["data"], "lannet", "192.168.50.2")
    assert open(reservation).read().split() == ["id-c1", "eth0"]
    checked = lan_cni(reference_path("ipvlan"), lab, "CHECK", {**config, "prevResult": added.json})
    assert checked.ok, checked.stdout
    assert cni(lab, "CHECK", {**config, "prevResult": added.json}, cni_path="/usr/lib/cni").ok
    assert cni(lab, "DEL", config, cni_path="/usr/lib/cni").ok
    assert not os.path.exists(reservation) and "eth0" not in lab["c1"].links()


def test_the_reference_result_passes_pynet_check(lab):
    config = lan_conf(lab, "ipvlan", "l2")
    added = lan_cni(reference_path("ipvlan"), lab, "ADD", config)
    assert added.ok, added.stdout
    checked = cni(lab, "CHECK", {**config, "prevResult": json.loads(added.stdout)})
    assert checked.ok, checked.stdout
    assert lan_cni(reference_path("ipvlan"), lab, "DEL", config).ok
