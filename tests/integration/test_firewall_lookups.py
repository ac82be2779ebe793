"""The nftables driver on a host with many containers: a container's ADD, DEL and CHECK look its own
elements up by key and never list a set that grows with the containers; what they remove is exactly
the owner's, also when the key it was told is stale. Kept libnftables contexts and netfilter
sockets (the agent's) see changes made by others."""

from __future__ import annotations

import pytest

from cni.firewall import FORWARD, MASQUERADE, PORTS, libnft, nfnl
from cni.firewall.nftables import Nftables
from cni.kernel.netns import entered

pytestmark = pytest.mark.root

GROWING = ("masq4", "masq6", "pm4", "pm6", "pm4ip", "pm6ip", "hairpin4", "hairpin6", "fwd4", "fwd6")


def mapping(n: int, address: str) -> dict:
    return {"protocol": "tcp", "host_ip": "", "host_port": 20000 + n, "address": address, "container_port": 80,
            "snat": True}


def attach(fw: Nftables, n: int) -> tuple[str, str, list[dict]]:
    owner, address = f"net/c{n}/eth0", f"10.77.{n // 200}.{n % 200 + 2}/16"
    fw.add_masquerade("net", owner, [address], ["10.77.0.0/16"])
    fw.add_port_mappings(owner, [mapping(n, address.split("/")[0])])
    fw.allow_forwarding(owner, [address])
    return owner, address, [mapping(n, address.split("/")[0])]


@pytest.fixture
def recorded(monkeypatch):
    """Every nft script the driver runs from now on."""
    scripts: list[str] = []
    run = libnft.run

    def recording(script, json_output=False):
        scripts.append(script)
        return run(script, json_output)

    monkeypatch.setattr(libnft, "run", recording)
    return scripts


def listed(scripts: list[str]) -> list[str]:
    return [line for script in scripts for line in script.splitlines() if line.startswith(("list", "get"))]


def set_text(host, name: str) -> str:
    return host.run("nft", "list", "map" if name.startswith("pm") else "set", "inet", "pynet", name).stdout


def test_add_check_del_never_list_what_grows_with_containers(host, recorded):
    fw = Nftables()
    with entered(host.path):
        for n in range(60):
            attach(fw, n)
        recorded.clear()
        owner, address, mappings = attach(fw, 60)
        assert fw.missing(owner, [address]) == []
        fw.remove(owner, PORTS, mappings)
        fw.remove(owner, FORWARD, [address])
        fw.remove(owner, MASQUERADE, [address])
        assert fw.missing(owner, [address]) == [address]
    lookups = listed(recorded)
    assert not [line for line in lookups if line.startswith("list table") or line.split()[-1] in GROWING], lookups
    for name in ("masq4", "pm4", "hairpin4", "fwd4"):
        text = set_text(host, name)
        assert "net/c60/eth0" not in text and "net/c59/eth0" in text and "net/c0/eth0" in text


def test_del_after_the_address_went_to_another_container_keeps_that_one(host):
    fw = Nftables()
    with entered(host.path):
        fw.add_masquerade("net", "net/a/eth0", ["10.77.0.5/16"], ["10.77.0.0/16"])
        fw.remove("net/a/eth0", MASQUERADE, ["10.77.0.5/16"])
        fw.add_masquerade("net", "net/b/eth0", ["10.77.0.5/16"], ["10.77.0.0/16"])
        fw.remove("net/a/eth0", MASQUERADE, ["10.77.0.5/16"])  # the runtime's DEL of a, again
        assert fw.missing("net/b/eth0", ["10.77.0.5/16"]) == []


def test_del_told_the_wrong_keys_still_removes_exactly_the_owners(host):
    fw = Nftables()
    with entered(host.path):
        fw.add_masquerade("net", "net/a/eth0", ["10.77.0.5/16"], ["10.77.0.0/16"])
        fw.add_masquerade("net", "net/b/eth0", ["10.77.0.6/16"], ["10.77.0.0/16"])
        fw.add_port_mappings("net/a/eth0", [mapping(1, "10.77.0.5")])
        fw.remove("net/a/eth0", MASQUERADE, ["10.77.0.6/16", "10.77.0.9/16", "not an address"])
        fw.remove("net/a/eth0", PORTS, [mapping(2, "10.77.0.9")])
    text = set_text(host, "masq4") + set_text(host, "pm4") + set_text(host, "hairpin4")
    assert "net/a/eth0" not in text and "10.77.0.6" in text


def test_the_forward_chain_goes_with_the_last_forward_element_only(host):
    fw = Nftables()
    with entered(host.path):
        owners = [attach(fw, n) for n in range(3)]
        for owner, address, _ in owners[:2]:
            fw.remove(owner, FORWARD, [address])
            assert "chain forward" in host.run("nft", "list", "table", "inet", "pynet").stdout
        fw.remove(owners[2][0], FORWARD, [owners[2][1]])
    assert "chain forward" not in host.run("nft", "list", "table", "inet", "pynet").stdout


def test_a_broken_table_is_repaired_by_the_next_change(host):
    fw = Nftables()
    with entered(host.path):
        attach(fw, 1)
        host.run("nft", "flush", "chain", "inet", "pynet", "postrouting")
        attach(fw, 2)
    assert "masquerade" in host.run("nft", "list", "chain", "inet", "pynet", "postrouting").stdout


def test_kept_contexts_are_reused_and_see_changes_made_by_others(host):
    fw = Nftables()
    with entered(host.path):
        libnft.keep_contexts()
        try:
            for n in range(5):
                owner, address, mappings = attach(fw, n)
                fw.remove(owner, PORTS, mappings)
            assert len(libnft._kept["libnftables"]) == 1 and len(libnft._kept["nfnetlink"]) == 1
            host.run("nft", "delete", "element", "inet", "pynet", "masq4", "{ 10.77.0.2 }")
            host.run("nft", "add", "element", "inet", "pynet", "masq4", '{ 10.77.0.99 comment "net/x/eth0" }')
            assert fw.missing("net/c0/eth0", ["10.77.0.2/16"]) == ["10.77.0.2/16"]
            assert fw.owned("net/x/eth0", MASQUERADE) == {"masq4: 10.77.0.99"}
            assert nfnl.shape("inet pynet").chains == ["portmap", "prerouting", "output", "postrouting", "forward"]
        finally:
            libnft.keep_contexts(False)
        assert libnft._kept == {}
