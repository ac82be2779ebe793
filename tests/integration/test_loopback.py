"""pynet-loopback run as a runtime runs it, against real namespaces, side by side with the reference."""

from __future__ import annotations

import os

import pytest

from cni.spec import SUPPORTED
from tests.netns import plugin_path, reference_path, run_plugin

pytestmark = pytest.mark.root

LOOPBACK = plugin_path("loopback")


def conf(version: str, **extra) -> dict:
    return {"cniVersion": version, "name": "lonet", "type": "loopback", **extra}


def lo_up(ns) -> bool:
    return "UP" in ns.links()["lo"]["flags"]


def expected_result(version: str, netns: str) -> dict:
    ips = [{"interface": 0, "address": "127.0.0.1/8"}, {"interface": 0, "address": "::1/128"}]
    if version < "1.0.0":
        ips = [{"version": "4", **ips[0]}, {"version": "6", **ips[1]}]
    result = {"cniVersion": version,
              "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": netns}],
              "ips": ips}
    if version < "1.0.0":
        result["dns"] = {}
    return result


@pytest.mark.parametrize("version", SUPPORTED)
def test_add_check_del_del_again(version, container):
    container.run("ip", "link", "set", "lo", "down")
    assert not lo_up(container)

    added = run_plugin(LOOPBACK, "ADD", conf(version), netns=container.path)
    assert added.ok, added.stdout + added.stderr
    assert added.json == expected_result(version, container.path)
    assert lo_up(container)
    assert container.run("ping", "-c1", "-W1", "127.0.0.1").returncode == 0

    if version >= "0.4.0":
        checked = run_plugin(LOOPBACK, "CHECK", conf(version, prevResult=added.json), netns=container.path)
        assert checked.ok and checked.stdout == "", checked.stdout

    for _ in range(2):  # DEL is idempotent
        deleted = run_plugin(LOOPBACK, "DEL", conf(version, prevResult=added.json), netns=container.path)
        assert deleted.ok and deleted.stdout == "", deleted.stdout
        assert not lo_up(container)


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_same_as_reference(version, make_netns):
    """Same kernel state and result as the Go reference; the reference omits ips[].version below
    1.0.0 (it labels a 1.0.0-shaped result with the old version) and prints an empty dns in 1.0.0."""
    if not os.path.exists(reference_path("loopback")):
        pytest.skip("Go reference plugins not installed (Debian containernetworking-plugins)")
    ours, theirs = make_netns("o"), make_netns("r")
    mine = run_plugin(LOOPBACK, "ADD", conf(version), netns=ours.path)
    ref = run_plugin(reference_path("loopback"), "ADD", conf(version), netns=theirs.path, cni_path="/usr/lib/cni")
    assert mine.ok and ref.ok, (mine.stdout, ref.stdout)
    normalised = mine.json
    for ip in normalised.get("ips", []):
        ip.pop("version", None)
    normalised["interfaces"][0]["sandbox"] = theirs.path
    ref_result = ref.json
    if not ref_result.get("dns"):
        ref_result.pop("dns", None)
        normalised.pop("dns", None)
    assert normalised == ref_result
    assert lo_up(ours) and lo_up(theirs)


def test_prev_result_passed_through_and_converted(container):
    prev = {"cniVersion": "0.4.0",
            "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "sandbox": container.path}],
            "ips": [{"version": "4", "interface": 0, "address": "10.9.0.5/24", "gateway": "10.9.0.1"}],
            "routes": [{"dst": "0.0.0.0/0"}], "dns": {"nameservers": ["10.9.0.1"]}}
    added = run_plugin(LOOPBACK, "ADD", conf("1.0.0", prevResult=prev), netns=container.path)
    assert added.ok, added.stdout
    assert added.json == {"cniVersion": "1.0.0",
                          "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "sandbox": container.path}],
                          "ips": [{"interface": 0, "address": "10.9.0.5/24", "gateway": "10.9.0.1"}],
                          "routes": [{"dst": "0.0.0.0/0"}], "dns": {"nameservers": ["10.9.0.1"]}}
    assert lo_up(container)


def test_check_fails_when_lo_is_down(container):
    added = run_plugin(LOOPBACK, "ADD", conf("1.0.0"), netns=container.path)
    container.run("ip", "link", "set", "lo", "down")
    checked = run_plugin(LOOPBACK, "CHECK", conf("1.0.0", prevResult=added.json), netns=container.path)
    assert checked.returncode != 0
    assert checked.json["code"] == 105 and "down" in checked.json["msg"]


def test_del_when_netns_is_gone_or_not_given(container):
    gone = container.path
    container.delete()
    for netns in (gone, ""):
        deleted = run_plugin(LOOPBACK, "DEL", conf("1.0.0"), netns=netns)
        assert deleted.ok and deleted.stdout == "", deleted.stdout


def test_add_to_missing_netns_is_code_3(token):
    added = run_plugin(LOOPBACK, "ADD", conf("1.0.0"), netns=f"/run/netns/pnt-{token}-missing")
    assert added.returncode != 0
    assert added.json["code"] == 3
    assert not os.path.exists(f"/run/netns/pnt-{token}-missing")  # never created by accident


def test_add_runs_inside_a_simulated_host(host, container):
    """A plugin run under `ip netns exec HOST` works on a container namespace from there."""
    container.run("ip", "link", "set", "lo", "down")
    added = run_plugin(LOOPBACK, "ADD", conf("1.1.0"), netns=container.path, host=host.name)
    assert added.ok, added.stdout + added.stderr
    assert lo_up(container)


def test_refuses_the_plugins_own_namespace(host):
    """CNI_NETNS pointing at the namespace the plugin runs in is refused, nothing changed."""
    host.run("ip", "link", "set", "lo", "down")
    added = run_plugin(LOOPBACK, "ADD", conf("1.0.0"), netns=host.path, host=host.name)
    assert added.returncode != 0 and added.json["code"] == 4
    assert "own network namespace" in added.json["msg"]
    assert not lo_up(host)
