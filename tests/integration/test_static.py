"""pynet-static: fixed addresses from the configuration, CNI_ARGS and the ips capability."""

from __future__ import annotations

import os

import pytest

from cni.spec import SUPPORTED
from tests.netns import plugin_path, reference_path, run_plugin

STATIC = plugin_path("static")


def conf(version="1.0.0", **ipam) -> dict:
    return {"cniVersion": version, "name": "net1", "type": "bridge", "ipam": {"type": "static", **ipam}}


ADDRESSES = [{"address": "10.10.0.5/24", "gateway": "10.10.0.1"}, {"address": "fd00:10::5/64"}]


@pytest.mark.parametrize("version", SUPPORTED)
def test_add_check_del(version):
    config = conf(version, addresses=ADDRESSES, routes=[{"dst": "0.0.0.0/0", "gw": "10.10.0.1"}],
                  dns={"nameservers": ["10.10.0.53"]})
    added = run_plugin(STATIC, "ADD", config, netns="/x")
    assert added.ok, added.stdout
    ips = [{"address": "10.10.0.5/24", "gateway": "10.10.0.1"}, {"address": "fd00:10::5/64"}]
    if version < "1.0.0":
        ips = [{"version": "4", **ips[0]}, {"version": "6", **ips[1]}]
    assert added.json == {"cniVersion": version, "ips": ips, "routes": [{"dst": "0.0.0.0/0", "gw": "10.10.0.1"}],
                          "dns": {"nameservers": ["10.10.0.53"]}}
    if version >= "0.4.0":
        assert run_plugin(STATIC, "CHECK", {**config, "prevResult": added.json}, netns="/x").ok
    assert run_plugin(STATIC, "DEL", config).ok


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0"])
def test_same_result_as_reference(version):
    if not os.path.exists(reference_path("static")):
        pytest.skip("Go reference plugins not installed")
    config = conf(version, addresses=ADDRESSES, routes=[{"dst": "0.0.0.0/0"}])
    ours = run_plugin(STATIC, "ADD", config, netns="/x", args="IgnoreUnknown=1;GATEWAY=fd00:10::1")
    theirs = run_plugin(reference_path("static"), "ADD", config, netns="/x", cni_path="/usr/lib/cni",
                        args="IgnoreUnknown=1;GATEWAY=fd00:10::1")
    mine, ref = ours.json, theirs.json
    for result in (mine, ref):
        for ip in result["ips"]:
            ip.pop("version", None)  # the reference omits it below 1.0.0 (see the loopback test)
        if not result.get("dns"):
            result.pop("dns", None)
    assert mine == ref


def test_cni_args_and_capability():
    config = conf(addresses=[{"address": "10.10.0.5/24"}])
    run = run_plugin(STATIC, "ADD", config, netns="/x",
                     args="IP=10.20.0.7/16,fd00:20::7/64;GATEWAY=10.20.0.1,10.10.0.1")
    # GATEWAY applies to the CNI_ARGS addresses only, as in the reference
    assert [(ip["address"], ip.get("gateway")) for ip in run.json["ips"]] == [
        ("10.10.0.5/24", None), ("10.20.0.7/16", "10.20.0.1"), ("fd00:20::7/64", None)]
    replaced = run_plugin(STATIC, "ADD", {**config, "runtimeConfig": {"ips": ["192.168.9.9/24"]}}, netns="/x")
    assert [ip["address"] for ip in replaced.json["ips"]] == ["192.168.9.9/24"]


@pytest.mark.parametrize("ipam,text", [
    ({}, "no address"),
    ({"addresses": [{"address": "10.10.0.5"}]}, "CIDR"),
    ({"addresses": [{"address": "10.10.0.5/24", "gateway": "fd00::1"}]}, "family"),
    ({"addresses": "10.10.0.5/24"}, "list"),
])
def test_bad_configuration(ipam, text):
    run = run_plugin(STATIC, "ADD", conf(**ipam), netns="/x")
    assert run.returncode != 0 and run.json["code"] == 7 and text in run.json["msg"] + run.json["details"]


def test_check_notices_a_missing_address():
    config = conf(addresses=ADDRESSES)
    prev = {"cniVersion": "1.0.0", "ips": [{"address": "10.10.0.5/24", "gateway": "10.10.0.1"}]}
    run = run_plugin(STATIC, "CHECK", {**config, "prevResult": prev}, netns="/x")
    assert run.returncode != 0 and run.json["code"] == 105 and "fd00:10::5" in run.json["msg"]
