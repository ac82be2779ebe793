"""pynet-firewall chained after pynet-bridge on a host whose forward path is closed: the container
gets through where the host drops (iptables' FORWARD, another firewall's nft chain), and DEL takes
exactly that away again."""

from __future__ import annotations

import shutil

import pytest

from cni.spec import SUPPORTED
from tests.integration.firewall_host import CLOSERS, close_forwarding, ruleset
from tests.netns import link_outside, plugin_path, run_plugin

pytestmark = pytest.mark.root

BRIDGE, FIREWALL = plugin_path("bridge"), plugin_path("firewall")


def cni(lab, plugin, command, config, container):
    return run_plugin(plugin, command, config, netns=lab[container].path, container_id=f"id-{container}",
                      cni_path=lab["cni_path"], host=lab["host"].name)


def attach(lab, container, version="1.0.0") -> dict:
    """The bridge's ADD (no masquerade, so the bridge adds no firewall state): its result."""
    bridge = {"cniVersion": version, "name": "fwnet", "type": "bridge", "bridge": lab["bridge"], "isGateway": True,
              "ipMasq": False, "ipam": {"type": "host-local", "dataDir": lab["data"],
                                        "ranges": [[{"subnet": "10.79.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}
    added = cni(lab, BRIDGE, "ADD", bridge, container)
    assert added.ok, added.stdout
    return added.json


def chain(lab, container, version="1.0.0", **firewall):
    config = {"cniVersion": version, "name": "fwnet", "type": "firewall",
              "prevResult": attach(lab, container, version), **firewall}
    return config, cni(lab, FIREWALL, "ADD", config, container)


def accepts(lab) -> str:
    """The firewall plugin's rules anywhere in the host."""
    return "\n".join(line for line in ruleset(lab["host"]).splitlines() if "pynet:forward:" in line)


def reaches_outside(ns) -> bool:
    return ns.run("ping", "-c1", "-W1", "192.0.2.2", check=False).returncode == 0


@pytest.mark.parametrize("backend", ["", "iptables"])
@pytest.mark.parametrize("version", SUPPORTED)
def test_add_check_del(version, backend, lab):
    close_forwarding(lab["host"], "iptables-drop")
    c1_config, c1 = chain(lab, "c1", version, backend=backend)
    c2_config, c2 = chain(lab, "c2", version, backend=backend)
    assert c1.ok and c2.ok, c1.stdout + c2.stdout
    assert c1.json == c1_config["prevResult"]
    rules = accepts(lab)
    assert "10.79.0.2" in rules and "fwnet/id-c1/eth0" in rules and "10.79.0.3" in rules
    if version >= "0.4.0":
        assert cni(lab, FIREWALL, "CHECK", c1_config, "c1").ok
    for _ in range(2):
        assert cni(lab, FIREWALL, "DEL", c1_config, "c1").ok
    rules = accepts(lab)
    assert "10.79.0.2" not in rules and "10.79.0.3" in rules
    if version >= "0.4.0":
        checked = cni(lab, FIREWALL, "CHECK", c1_config, "c1")
        assert checked.returncode != 0 and checked.json["code"] == 105 and "10.79.0.2" in checked.json["details"]


CASES = [(backend, how) for backend in ("nftables", "iptables") for how in CLOSERS
         if not (backend == "iptables" and how == "legacy-drop")]  # the iptables driver uses the host's iptables


@pytest.mark.parametrize("backend,closed_by", CASES)
def test_lets_the_container_through_a_closed_forward_path_and_del_leaves_it_closed(backend, closed_by, lab, make_netns):
    if closed_by == "legacy-drop" and not shutil.which("iptables-legacy"):
        pytest.skip("iptables-legacy is not installed")
    host, outside = lab["host"], make_netns("o")
    link_outside(host, outside)
    outside.run("ip", "route", "add", "10.79.0.0/24", "via", "192.0.2.1")
    close_forwarding(host, closed_by)
    result = attach(lab, "c1")
    before = ruleset(host)
    assert not reaches_outside(lab["c1"])  # the host's firewall drops the container's traffic

    config = {"cniVersion": "1.0.0", "name": "fwnet", "type": "firewall", "backend": backend, "prevResult": result}
    added = cni(lab, FIREWALL, "ADD", config, "c1")
    assert added.ok, added.stdout
    assert reaches_outside(lab["c1"])
    # replies and published ports only: the outside still cannot open a connection to the container
    assert outside.run("ping", "-c1", "-W1", "10.79.0.2", check=False).returncode != 0
    assert cni(lab, FIREWALL, "CHECK", config, "c1").ok

    assert cni(lab, FIREWALL, "DEL", config, "c1").ok
    assert ruleset(host) == before
    assert not reaches_outside(lab["c1"])


def test_on_an_open_host_the_nftables_driver_adds_nothing(lab):
    """Nothing drops forwarded traffic: nothing to accept, no forward hook of pynet's."""
    result = attach(lab, "c1")
    before = ruleset(lab["host"])
    config = {"cniVersion": "1.0.0", "name": "fwnet", "type": "firewall", "prevResult": result}
    assert cni(lab, FIREWALL, "ADD", config, "c1").ok
    assert ruleset(lab["host"]) == before
    assert cni(lab, FIREWALL, "CHECK", config, "c1").ok
    # a firewall that closes the path after the ADD: CHECK says where the container is not let through
    close_forwarding(lab["host"], "nft-drop")
    checked = cni(lab, FIREWALL, "CHECK", config, "c1")
    assert checked.returncode != 0 and checked.json["code"] == 105
    assert "10.79.0.2 in inet hostfw fw" in checked.json["details"]
    assert cni(lab, FIREWALL, "DEL", config, "c1").ok


@pytest.mark.parametrize("backend,code", [("firewalld", 2), ("ufw", 2)])
def test_unsupported_backends_are_refused_cleanly(backend, code, lab):
    close_forwarding(lab["host"], "iptables-drop")
    config, run = chain(lab, "c1", backend=backend)
    assert run.returncode != 0 and run.json["code"] == code and backend in run.json["msg"]
    assert "10.79.0.2" not in accepts(lab)


def test_backend_none_adds_nothing(lab):
    close_forwarding(lab["host"], "iptables-drop")
    config, run = chain(lab, "c1", backend="none")
    assert run.ok
    assert "10.79.0.2" not in accepts(lab)
    assert cni(lab, FIREWALL, "CHECK", config, "c1").ok and cni(lab, FIREWALL, "DEL", config, "c1").ok
