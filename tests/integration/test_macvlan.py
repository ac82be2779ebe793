"""pynet-macvlan in a simulated host whose "uplink" m0 is a veth to a LAN namespace."""

from __future__ import annotations

import os

import pytest

from cni.spec import SUPPORTED
from tests.netns import install_plugins, plugin_path, run_plugin
from tests.netns.lan import lan_cni, lan_conf, lan_lab, ping

pytestmark = pytest.mark.root

MACVLAN = plugin_path("macvlan")


@pytest.fixture
def lab(make_netns, tmp_path):
    """The LAN lab, with pynet's host-local first in CNI_PATH (IPAM runs what CNI_PATH holds)."""
    return {**lan_lab(make_netns, tmp_path), "cni_path": install_plugins(tmp_path / "bin")}


def conf(lab, version="1.0.0", **extra) -> dict:
    return lan_conf(lab, "macvlan", extra.pop("mode", "bridge"), version, **extra)


def cni(lab, command, config, container="c1", plugin=MACVLAN, **kw):
    return lan_cni(plugin, lab, command, config, container, **{"cni_path": lab["cni_path"], **kw})


@pytest.mark.parametrize("version", SUPPORTED)
def test_add_check_del_every_version(version, lab):
    config = conf(lab, version)
    added = cni(lab, "ADD", config)
    assert added.ok, added.stdout
    result = added.json
    assert [i["name"] for i in result["interfaces"]] == ["eth0"]
    assert result["interfaces"][0]["sandbox"] == lab["c1"].path
    ip = {"interface": 0, "address": "192.168.50.2/24", "gateway": "192.168.50.1"}
    assert result["ips"] == [{"version": "4", **ip} if version < "1.0.0" else ip]
    link = lab["c1"].links()["eth0"]
    assert link["address"] == result["interfaces"][0]["mac"]
    assert ping(lab["c1"], "192.168.50.100")  # a machine on the master's segment
    if version >= "0.4.0":
        assert cni(lab, "CHECK", {**config, "prevResult": result}).ok
    for _ in range(2):
        assert cni(lab, "DEL", {**config, "prevResult": result}).ok
    assert "eth0" not in lab["c1"].links()
    assert not [n for n in lab["host"].links() if n.startswith("pnm")]


@pytest.mark.parametrize("mode,reachable", [("bridge", True), ("private", False)])
def test_modes_between_two_containers(mode, reachable, lab):
    config = conf(lab, mode=mode)
    assert cni(lab, "ADD", config, "c1").ok and cni(lab, "ADD", config, "c2").ok
    assert ping(lab["c1"], "192.168.50.100") and ping(lab["c2"], "192.168.50.100")
    assert ping(lab["c1"], "192.168.50.3") is reachable


def test_mac_and_mtu(lab):
    lab["host"].run("ip", "link", "set", "m0", "mtu", "1400")
    added = cni(lab, "ADD", conf(lab, mtu=1300, runtimeConfig={"mac": "02:00:00:50:00:02"}))
    assert added.ok and added.json["interfaces"][0]["mac"] == "02:00:00:50:00:02"
    link = lab["c1"].links()["eth0"]
    assert link["mtu"] == 1300 and link["address"] == "02:00:00:50:00:02"
    too_big = cni(lab, "ADD", conf(lab, mtu=1500), "c2")
    assert too_big.returncode != 0 and too_big.json["code"] == 7 and "mtu 1500 > m0" in too_big.json["details"]


def test_check_notices_another_mode(lab):
    config = conf(lab)
    result = cni(lab, "ADD", config).json
    checked = cni(lab, "CHECK", {**config, "mode": "vepa", "prevResult": result})
    assert checked.returncode != 0 and checked.json["code"] == 105 and "mode" in checked.json["details"]


def test_del_after_the_netns_is_gone(lab):
    config = conf(lab)
    assert cni(lab, "ADD", config).ok
    lab["c1"].delete()
    assert run_plugin(MACVLAN, "DEL", config, netns=lab["c1"].path, container_id="id-c1",
                      cni_path="/usr/lib/cni", host=lab["host"].name).ok


@pytest.mark.parametrize("extra,text", [
    ({"master": "nope0"}, "master nope0 not found"),
    ({"mode": "foo"}, "invalid mode"),
    ({"master": "a/b"}, "invalid master"),
])
def test_bad_configuration_leaves_nothing(extra, text, lab):
    before, container_before = lab["host"].snapshot(switches=True), lab["c1"].snapshot(switches=True)
    run = cni(lab, "ADD", conf(lab, **extra))
    assert run.returncode != 0 and run.json["code"] == 7 and text in run.json["msg"]
    assert lab["host"].snapshot(switches=True) == before and lab["c1"].snapshot(switches=True) == container_before


def test_master_that_is_a_bridge_port(lab):
    """The kernel refuses a macvlan on a bridge port (EBUSY): a clear error, nothing left."""
    host = lab["host"]
    host.run("ip", "link", "add", "br0", "type", "bridge")
    host.run("ip", "link", "set", "m0", "master", "br0")
    before = host.snapshot(switches=True)
    run = cni(lab, "ADD", conf(lab))
    assert run.returncode != 0 and run.json["code"] == 7 and "bridge or bond port" in run.json["details"]
    assert host.snapshot(switches=True) == before and "eth0" not in lab["c1"].links()


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_failure_after_every_step_rolls_back(fail_at, lab):
    before, container_before = lab["host"].snapshot(switches=True), lab["c1"].snapshot(switches=True)
    run = cni(lab, "ADD", conf(lab), env={"PYNET_FAIL_AT": str(fail_at)})
    if fail_at == 3:  # two recorded steps: the link and the IPAM reservation
        assert run.ok
        return
    assert run.returncode != 0 and "injected fault" in run.json["msg"]
    assert lab["host"].snapshot(switches=True) == before and lab["c1"].snapshot(switches=True) == container_before


def test_link_in_container(lab):
    lab["host"].run("ip", "link", "set", "m0", "netns", lab["c1"].name)
    lab["c1"].run("ip", "link", "set", "m0", "up")
    added = cni(lab, "ADD", conf(lab, linkInContainer=True))
    assert added.ok, added.stdout
    assert lab["c1"].links()["eth0"]["link"] == "m0"
    assert ping(lab["c1"], "192.168.50.100")


def test_status_asks_the_kernel_not_module_files(lab, tmp_path):
    """macvlan built into the kernel (CONFIG_MACVLAN=y) has no module file to find: STATUS asks the
    kernel. Run in-process, with /lib/modules and /sys/module emptied for the plugin."""
    config = conf(lab, "1.1.0")
    status = cni(lab, "STATUS", config)
    assert status.ok, status.stdout
    blind = tmp_path / "macvlan-without-module-files"
    blind.write_text(f"#!/bin/sh\nmount -t tmpfs none /lib/modules && mount -t tmpfs none /sys/module && exec {MACVLAN}\n")
    blind.chmod(0o755)
    status = cni(lab, "STATUS", config, env={"PYNET_AGENT": "off"}, plugin=str(blind))
    assert status.ok, status.stdout + status.stderr


def reservations(lab) -> list[str]:
    return sorted(f for f in os.listdir(os.path.join(lab["data"], "lannet")) if f.startswith("192."))


def test_del_with_a_missing_ipam_plugin_still_removes_the_link(lab, tmp_path):
    config = conf(lab)
    assert cni(lab, "ADD", config).ok
    (tmp_path / "empty").mkdir()
    deleted = cni(lab, "DEL", config, cni_path=str(tmp_path / "empty"))
    assert deleted.returncode == 1 and deleted.json["code"] == 7 and "host-local" in deleted.json["msg"]
    assert "eth0" not in lab["c1"].links()
    assert "192.168.50.2" not in lab["c1"].run("ip", "-4", "addr").stdout
    assert reservations(lab) == ["192.168.50.2"]  # only the IPAM plugin can release it
    assert cni(lab, "DEL", config).ok and reservations(lab) == []


def test_gc_frees_the_reservations_of_stale_attachments(lab):
    """GC is passed on to the IPAM plugin (the spec's delegation): what is not valid is freed. The
    link of a stale attachment lives in its container's namespace, gone with it."""
    config = conf(lab, "1.1.0")
    assert cni(lab, "ADD", config, "c1").ok and cni(lab, "ADD", config, "c2").ok
    lab["c2"].delete()
    valid = [{"containerID": "id-c1", "ifname": "eth0"}]
    collected = run_plugin(MACVLAN, "GC", {**config, "cni.dev/valid-attachments": valid}, container_id="",
                           ifname="", cni_path=lab["cni_path"], host=lab["host"].name)
    assert collected.ok and collected.stdout == "", collected.stdout
    assert reservations(lab) == ["192.168.50.2"]
    assert ping(lab["c1"], "192.168.50.100")
