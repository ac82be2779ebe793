"""The nftables driver on a host with many containers: a container's ADD and DEL (told what its ADD
was given) look its elements up by key and never list a set that grows with the containers; what
they remove is exactly the owner's, and the network's own elements and the table leave exactly when
the listing way (_tidy) would remove them. Kept libnftables contexts and netfilter sockets (the
agent's) see changes made by others."""

from __future__ import annotations

import pytest

from cni.firewall import MASQUERADE, PORTS, libnft, nfnl
from cni.firewall.nftables import Nftables
from cni.kernel.netns import entered

pytestmark = pytest.mark.root

GROWING = ("masq4", "masq6", "pm4", "pm6", "pm4ip", "pm6ip", "hairpin4", "hairpin6", "attached")


def mapping(n: int, address: str) -> dict:
    return {"protocol": "tcp", "host_ip": "", "host_port": 20000 + n + 1000 * int(address.split(".")[1]) % 40000,
            "address": address, "container_port": 80, "snat": True}


def attach(fw: Nftables, n: int, network: str = "net", subnet: str = "10.77.0.0/16", isolated: bool = False):
    """An attachment as bridge (+ portmap) ADD leaves it: (owner, address, its mappings)."""
    base = subnet.split(".")
    owner, address = f"{network}/c{n}/eth0", f"{base[0]}.{base[1]}.{n // 200}.{n % 200 + 2}/16"
    fw.add_masquerade(network, owner, [address], [subnet])
    if isolated:
        fw.isolate_bridge(network, owner, f"pni{network}")
    mappings = [mapping(n, address.split("/")[0])]
    fw.add_port_mappings(owner, mappings)
    return owner, address, mappings


def detach(fw: Nftables, owner: str, address: str, mappings: list[dict]) -> None:
    """As portmap DEL and then bridge DEL do it, with prevResult."""
    fw.remove(owner, PORTS, mappings)
    fw.release(owner.split("/")[0], owner, [address])


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


def ruleset(host) -> str:
    return host.run("nft", "list", "ruleset").stdout


def test_add_and_del_never_list_what_grows_with_containers(host, recorded):
    fw = Nftables()
    with entered(host.path):
        for n in range(60):
            attach(fw, n, isolated=True)
        recorded.clear()
        owner, address, mappings = attach(fw, 60, isolated=True)
        assert fw.missing(owner, MASQUERADE, [address]) == []
        detach(fw, owner, address, mappings)
    lookups = listed(recorded)
    assert not [line for line in lookups if line.startswith("list table") or line.split()[-1] in GROWING], lookups
    text = ruleset(host)
    assert "net/c60/eth0" not in text and "net/c59/eth0" in text and "net/c0/eth0" in text
    assert "10.77.0.0/16" in text and "pninet" in text  # the network's own stay with its other containers


def test_a_network_leaves_with_its_last_container_and_the_table_with_the_last_network(host):
    fw = Nftables()
    before = ruleset(host)
    with entered(host.path):
        a = [attach(fw, n, "neta", "10.77.0.0/16", isolated=True) for n in range(2)]
        b = [attach(fw, n, "netb", "10.78.0.0/16") for n in range(2)]
        for owner, address, mappings in a:
            assert "10.77.0.0/16" in ruleset(host) and "pnineta" in ruleset(host)
            detach(fw, owner, address, mappings)
        text = ruleset(host)
        assert "10.77.0.0/16" not in text and "pnineta" not in text and "chain forward" not in text
        assert "10.78.0.0/16" in text
        for owner, address, mappings in b:
            detach(fw, owner, address, mappings)
    assert ruleset(host) == before


def test_del_after_the_address_went_to_another_container_keeps_that_one(host):
    fw = Nftables()
    with entered(host.path):
        fw.add_masquerade("net", "net/a/eth0", ["10.77.0.5/16"], ["10.77.0.0/16"])
        fw.release("net", "net/a/eth0", ["10.77.0.5/16"])
        fw.add_masquerade("net", "net/b/eth0", ["10.77.0.5/16"], ["10.77.0.0/16"])
        fw.release("net", "net/a/eth0", ["10.77.0.5/16"])  # the runtime's DEL of a, again
        fw.remove("net/a/eth0", MASQUERADE, ["10.77.0.5/16"])
        assert fw.missing("net/b/eth0", MASQUERADE, ["10.77.0.5/16"]) == []
    assert "10.77.0.0/16" in ruleset(host)


def test_del_told_the_wrong_keys_still_removes_exactly_the_owners(host):
    fw = Nftables()
    with entered(host.path):
        fw.add_masquerade("net", "net/a/eth0", ["10.77.0.5/16"], ["10.77.0.0/16"])
        fw.add_masquerade("net", "net/b/eth0", ["10.77.0.6/16"], ["10.77.0.0/16"])
        fw.add_port_mappings("net/a/eth0", [mapping(1, "10.77.0.5")])
        fw.remove("net/a/eth0", MASQUERADE, ["10.77.0.6/16", "10.77.0.9/16", "not an address"])
        fw.remove("net/a/eth0", PORTS, [mapping(2, "10.77.0.9")])
    text = ruleset(host)
    assert "net/a/eth0" not in text and "10.77.0.6" in text


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
            assert fw.missing("net/c0/eth0", MASQUERADE, ["10.77.0.2/16"]) == ["10.77.0.2/16"]
            assert "net/x/eth0" in fw.owners("net")
            assert nfnl.shape("inet pynet").chains == ["portmap", "prerouting", "output", "postrouting"]
        finally:
            libnft.keep_contexts(False)
        assert libnft._kept == {}
