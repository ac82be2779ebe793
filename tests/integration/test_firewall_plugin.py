"""pynet-firewall chained after pynet-bridge: forward-accept elements per container, exact DEL."""

from __future__ import annotations


import pytest

from cni.spec import SUPPORTED
from tests.netns import link_outside, plugin_path, run_plugin

pytestmark = pytest.mark.root

BRIDGE, FIREWALL = plugin_path("bridge"), plugin_path("firewall")



def cni(lab, plugin, command, config, container):
    return run_plugin(plugin, command, config, netns=lab[container].path, container_id=f"id-{container}",
                      cni_path=lab["cni_path"], host=lab["host"].name)


def chain(lab, container, version="1.0.0", **firewall):
    bridge = {"cniVersion": version, "name": "fwnet", "type": "bridge", "bridge": lab["bridge"], "isGateway": True,
              "ipam": {"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": "10.79.0.0/24"}]]}}
    added = cni(lab, BRIDGE, "ADD", bridge, container)
    assert added.ok, added.stdout
    config = {"cniVersion": version, "name": "fwnet", "type": "firewall", "prevResult": added.json, **firewall}
    return config, cni(lab, FIREWALL, "ADD", config, container)


def fwd_elements(lab) -> str:
    """What accepts the containers' forwarded traffic: pynet's nft set, or its iptables rules."""
    if lab.get("backend") == "iptables":
        saved = lab["host"].run("iptables-save", "-t", "filter").stdout
        return "\n".join(line for line in saved.splitlines() if "-j ACCEPT" in line and "pynet:forward:" in line)
    return lab["host"].run("nft", "list", "set", "inet", "pynet", "fwd4", check=False).stdout


@pytest.mark.parametrize("backend", ["", "iptables"])
@pytest.mark.parametrize("version", SUPPORTED)
def test_add_check_del(version, backend, lab):
    lab["backend"] = backend
    c1_config, c1 = chain(lab, "c1", version, backend=backend)
    c2_config, c2 = chain(lab, "c2", version, backend=backend)
    assert c1.ok and c2.ok, c1.stdout + c2.stdout
    assert c1.json == c1_config["prevResult"]
    elements = fwd_elements(lab)
    assert "10.79.0.2" in elements and "fwnet/id-c1/eth0" in elements and "10.79.0.3" in elements
    if version >= "0.4.0":
        assert cni(lab, FIREWALL, "CHECK", c1_config, "c1").ok
    for _ in range(2):
        assert cni(lab, FIREWALL, "DEL", c1_config, "c1").ok
    elements = fwd_elements(lab)
    assert "10.79.0.2" not in elements and "10.79.0.3" in elements
    if version >= "0.4.0":
        checked = cni(lab, FIREWALL, "CHECK", c1_config, "c1")
        assert checked.returncode != 0 and checked.json["code"] == 105 and "10.79.0.2" in checked.json["details"]


def test_forwarded_traffic_still_flows(lab, make_netns):
    assert chain(lab, "c1")[1].ok
    host, outside = lab["host"], make_netns("o")
    link_outside(host, outside)
    outside.run("ip", "route", "add", "10.79.0.0/24", "via", "192.0.2.1")
    lab["c1"].run("ip", "route", "add", "default", "via", "10.79.0.1")
    assert lab["c1"].run("ping", "-c1", "-W2", "192.0.2.2", check=False).returncode == 0


@pytest.mark.parametrize("backend,code", [("firewalld", 2), ("ufw", 2)])
def test_unsupported_backends_are_refused_cleanly(backend, code, lab):
    config, run = chain(lab, "c1", backend=backend)
    assert run.returncode != 0 and run.json["code"] == code and backend in run.json["msg"]
    assert "10.79.0.2" not in fwd_elements(lab)


def test_backend_none_adds_nothing(lab):
    config, run = chain(lab, "c1", backend="none")
    assert run.ok
    assert "10.79.0.2" not in fwd_elements(lab)
    assert cni(lab, FIREWALL, "CHECK", config, "c1").ok and cni(lab, FIREWALL, "DEL", config, "c1").ok


def forward_hooked(lab) -> bool:
    """Whether pynet's table hooks the forward path (every bridged packet passes that hook when
    br_netfilter's is on)."""
    return "hook forward" in lab["host"].run("nft", "list", "table", "inet", "pynet", check=False).stdout


def test_the_forward_chain_is_there_only_while_something_needs_it(lab):
    bridge = {"cniVersion": "1.0.0", "name": "fwnet", "type": "bridge", "bridge": lab["bridge"], "ipMasq": True,
              "ipam": {"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": "10.79.0.0/24"}]]}}
    added = cni(lab, BRIDGE, "ADD", bridge, "c1")
    assert added.ok, added.stdout
    assert "masq4" in lab["host"].run("nft", "list", "table", "inet", "pynet").stdout and not forward_hooked(lab)
    config = {"cniVersion": "1.0.0", "name": "fwnet", "type": "firewall", "prevResult": added.json}
    assert cni(lab, FIREWALL, "ADD", config, "c1").ok
    assert forward_hooked(lab)
    assert cni(lab, FIREWALL, "DEL", config, "c1").ok
    assert not forward_hooked(lab) and "10.79.0.2" in lab["host"].run("nft", "list", "set", "inet", "pynet",
                                                                          "masq4").stdout
