"""pynet-ipvlan on the machine's own kernel: bad input is refused before the kernel is asked, and a
kernel without ipvlan (the development VM's) gets a clear error with nothing left behind. The
plugin's work on a kernel with ipvlan is tested in a VM (tests/vm/)."""

from __future__ import annotations

import os

import pytest

from cni.kernel.links import kernel_knows
from tests.netns import plugin_path
from tests.netns.lan import lan_cni, lan_conf, lan_lab

pytestmark = pytest.mark.root

IPVLAN = plugin_path("ipvlan")


@pytest.fixture
def lab(make_netns, tmp_path):
    return lan_lab(make_netns, tmp_path)


def cni(lab, command, config, **kw):
    return lan_cni(IPVLAN, lab, command, config, **kw)


@pytest.mark.skipif(kernel_knows("ipvlan"), reason="this kernel has ipvlan (the plugin's work is tested in tests/vm)")
def test_kernel_without_ipvlan(lab):
    before, container_before = lab["host"].snapshot(switches=True), lab["c1"].snapshot(switches=True)
    run = cni(lab, "ADD", lan_conf(lab, "ipvlan", "l2"))
    assert run.returncode != 0 and run.json["code"] == 101, run.stdout
    assert run.json["msg"] == "this kernel has no ipvlan support (module ipvlan)"
    assert "modprobe ipvlan" in run.json["details"] and "Traceback" not in run.stdout + run.stderr
    assert lab["host"].snapshot(switches=True) == before and lab["c1"].snapshot(switches=True) == container_before
    assert not os.path.exists(lab["data"])  # IPAM is asked only once the link exists
    status = cni(lab, "STATUS", lan_conf(lab, "ipvlan", "l2", "1.1.0"))
    assert status.returncode != 0 and status.json["code"] == 50 and "no ipvlan support" in status.json["msg"]
    assert cni(lab, "DEL", lan_conf(lab, "ipvlan", "l2")).ok  # nothing to delete: still a success


@pytest.mark.parametrize("extra,text", [
    ({"master": "nope0"}, "master nope0 not found"),
    ({"mode": "foo"}, "invalid mode"),
    ({"mode": "bridge"}, "invalid mode"),
    ({"mtu": 9000}, "mtu larger than the master's"),
    ({"ipam": None}, "ipvlan needs ipam"),
    ({"linkInContainer": "yes"}, "invalid linkInContainer"),
])
def test_bad_configuration_leaves_nothing(extra, text, lab):
    before, container_before = lab["host"].snapshot(switches=True), lab["c1"].snapshot(switches=True)
    config = {k: v for k, v in {**lan_conf(lab, "ipvlan", "l2"), **extra}.items() if v is not None}
    run = cni(lab, "ADD", config)
    assert run.returncode != 0 and run.json["code"] == 7 and text in run.json["msg"], run.stdout
    assert lab["host"].snapshot(switches=True) == before and lab["c1"].snapshot(switches=True) == container_before
