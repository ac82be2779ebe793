"""pynet-bridge in a simulated host: real veths, a real bridge, real packets, nft masquerade."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from cni.spec import SUPPORTED
from tests.netns import link_outside, plugin_path, reference_path, run_plugin, wait_until

pytestmark = pytest.mark.root

BRIDGE = plugin_path("bridge")



BACKENDS = ["nftables", "iptables"]


def ruleset(ns) -> str:
    """Everything the namespace's firewall holds (iptables here is nft-based, but save both)."""
    return ns.run("nft", "list", "ruleset").stdout + ns.run("iptables-save", check=False).stdout


def conf(lab, version="1.0.0", **extra) -> dict:
    return {"cniVersion": version, "name": "net1", "type": "bridge", "bridge": lab["bridge"], "isGateway": True,
            "ipMasq": True, "firewallBackend": lab.get("backend", "nftables"), "ipam": {"type": "host-local", "dataDir": lab["data"],
                                     "ranges": [[{"subnet": "10.77.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]},
            **extra}


def cni(lab, command, config, container="c1", plugin=BRIDGE, **kw):
    return run_plugin(plugin, command, config, netns=lab[container].path, container_id=f"id-{container}",
                      cni_path=lab["cni_path"], host=lab["host"].name, **kw)


def ping(ns, address) -> bool:
    return ns.run("ping", "-c1", "-W2", address, check=False).returncode == 0


@pytest.mark.parametrize("version", SUPPORTED)
@pytest.mark.parametrize("backend", BACKENDS)
def test_add_check_del_every_version(backend, version, lab):
    lab["backend"] = backend
    config = conf(lab, version)
    added = cni(lab, "ADD", config)
    assert added.ok, added.stdout + added.stderr
    result = added.json
    assert [i["name"] for i in result["interfaces"]][::2] == [lab["bridge"], "eth0"]
    assert result["interfaces"][1]["name"].startswith("pnv")
    assert result["interfaces"][2]["sandbox"] == lab["c1"].path
    ip = {"interface": 2, "address": "10.77.0.2/24", "gateway": "10.77.0.1"}
    assert result["ips"] == [{"version": "4", **ip} if version < "1.0.0" else ip]
    assert result["routes"] == [{"dst": "0.0.0.0/0"}]
    links = lab["host"].links()
    assert links[result["interfaces"][1]["name"]]["master"] == lab["bridge"]
    assert ping(lab["c1"], "10.77.0.1")
    if version >= "0.4.0":
        checked = cni(lab, "CHECK", {**config, "prevResult": result})
        assert checked.ok and checked.stdout == "", checked.stdout
    for _ in range(2):
        deleted = cni(lab, "DEL", {**config, "prevResult": result})
        assert deleted.ok and deleted.stdout == "", deleted.stdout
    assert "eth0" not in lab["c1"].links()
    assert not [n for n in lab["host"].links() if n.startswith("pnv")]
    assert sorted(os.listdir(os.path.join(lab["data"], "net1"))) == ["last_reserved_ip.0", "lock"]
    assert "10.77.0.2" not in ruleset(lab["host"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_containers_talk_and_reach_outside_masqueraded(backend, lab, make_netns):
    lab["backend"] = backend
    config = conf(lab)
    assert cni(lab, "ADD", config, "c1").ok and cni(lab, "ADD", config, "c2").ok
    assert ping(lab["c1"], "10.77.0.3") and ping(lab["c2"], "10.77.0.2")
    # an "outside" network behind the host, with no route back to the containers' subnet
    outside, host = make_netns("o"), lab["host"]
    link_outside(host, outside)
    server = subprocess.Popen(["ip", "netns", "exec", outside.name, "python3", "-c",
                               "import socket; s = socket.socket(); s.bind(('192.0.2.2', 8000)); s.listen(1); "
                               "c, peer = s.accept(); c.sendall(peer[0].encode()); c.close()"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(50):  # wait for the listener
            if "8000" in outside.run("ss", "-ltn").stdout:
                break
            __import__("time").sleep(0.05)
        seen = lab["c1"].run("python3", "-c", "import socket; s = socket.create_connection(('192.0.2.2', 8000), 5); "
                                              "print(s.recv(100).decode())").stdout.strip()
    finally:
        server.kill()
        server.wait()
    assert seen == "192.0.2.1"  # the outside saw the host's address: masqueraded


def test_ifname_taken_fails_and_leaves_nothing(lab):
    lab["c1"].run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other")
    before = lab["host"].snapshot(switches=True)
    added = cni(lab, "ADD", conf(lab))
    assert added.returncode != 0 and added.json["code"] == 102
    assert lab["host"].snapshot(switches=True) == before
    assert not os.path.exists(os.path.join(lab["data"], "net1")) or \
        sorted(os.listdir(os.path.join(lab["data"], "net1"))) in ([], ["lock"], ["last_reserved_ip.0", "lock"])


# An ADD's recorded changes: on a new host bridge, veth, IPAM reservation, gateway address on the
# bridge, masquerade (5); next to a running container only veth, IPAM and masquerade are new (3).
STEPS = {"new host": 5, "busy host": 3}
CASES = [(host, n) for host, steps in STEPS.items() for n in range(1, steps + 2)]


@pytest.mark.parametrize("host_state,fail_at", CASES, ids=[f"{h}-step{n}" for h, n in CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_failure_after_every_step_rolls_back(backend, host_state, fail_at, lab):
    """PYNET_FAIL_AT=n fails the ADD right after its n-th change: host and container as before.
    One step past the last, the ADD succeeds: every step is covered."""
    lab["backend"] = backend
    if host_state == "busy host":
        assert cni(lab, "ADD", conf(lab), "c2").ok
    host_before, container_before = lab["host"].snapshot(switches=True), lab["c1"].snapshot(switches=True)
    data = os.path.join(lab["data"], "net1")

    def reservations() -> list[str]:
        return sorted(f for f in os.listdir(data) if f[0].isdigit()) if os.path.exists(data) else []


    reserved_before = reservations()
    added = cni(lab, "ADD", conf(lab), env={"PYNET_FAIL_AT": str(fail_at)})
    if fail_at > STEPS[host_state]:
        assert added.ok, added.stdout
        return
    assert added.returncode != 0 and "injected fault" in added.json["msg"], added.stdout
    assert lab["host"].snapshot(switches=True) == host_before
    assert lab["c1"].snapshot(switches=True) == container_before
    assert reservations() == reserved_before


CHANGES = {"promiscMode": lambda lab: {"promiscMode": True},
           "forceAddress": lambda lab: {"forceAddress": True, "ipam": {
               "type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": "10.76.0.0/24"}]]}}}


@pytest.mark.parametrize("change", CHANGES)
def test_a_failed_add_leaves_an_existing_bridge_as_it_was(change, lab):
    """An ADD that changes a bridge another container uses (promiscMode on a bridge that is not
    promiscuous; forceAddress with another gateway) takes that back when it fails, after any step."""
    assert cni(lab, "ADD", conf(lab), "c2").ok
    before = lab["host"].snapshot(switches=True)
    for fail_at in range(1, 10):
        added = cni(lab, "ADD", conf(lab, **CHANGES[change](lab)), env={"PYNET_FAIL_AT": str(fail_at)})
        if added.ok:
            break
        assert "injected fault" in added.json["msg"], added.stdout
        assert lab["host"].snapshot(switches=True) == before, f"after a fault at step {fail_at}"
    assert added.ok, added.stdout
    bridge = lab["host"].snapshot()["links"][lab["bridge"]]
    assert "PROMISC" in lab["host"].links()[lab["bridge"]]["flags"] if change == "promiscMode" else \
        bridge[2] == ["10.76.0.1/24"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_del_after_the_netns_is_gone(backend, lab):
    lab["backend"] = backend
    config = conf(lab)
    assert cni(lab, "ADD", config).ok
    lab["c1"].delete()
    deleted = run_plugin(BRIDGE, "DEL", config, netns=lab["c1"].path, container_id="id-c1",
                         cni_path=lab["cni_path"], host=lab["host"].name)
    assert deleted.ok, deleted.stdout
    # the kernel tears a deleted namespace down in the background, the veth pair with it
    wait_until(lambda: not [n for n in lab["host"].links() if n.startswith("pnv")], "the host end to go")
    assert "10.77.0.2" not in ruleset(lab["host"])
    assert sorted(os.listdir(os.path.join(lab["data"], "net1"))) == ["last_reserved_ip.0", "lock"]


def test_check_notices_a_removed_address_and_missing_masquerade(lab):
    config = conf(lab, "1.1.0")
    result = cni(lab, "ADD", config).json
    lab["c1"].run("ip", "addr", "del", "10.77.0.2/24", "dev", "eth0")
    checked = cni(lab, "CHECK", {**config, "prevResult": result})
    assert checked.returncode != 0 and checked.json["code"] == 105
    assert "10.77.0.2/24 missing" in checked.json["details"]
    assert "no masquerade" not in checked.json["details"]
    lab["host"].run("nft", "flush", "set", "inet", "pynet", "masq4")
    assert "no masquerade for 10.77.0.2/24" in cni(lab, "CHECK", {**config, "prevResult": result}).json["details"]


@pytest.mark.parametrize("mix", ["pynet bridge + reference host-local", "reference bridge + pynet host-local"])
def test_mixed_with_the_reference(mix, lab):
    if not os.path.exists(reference_path("bridge")):
        pytest.skip("Go reference plugins not installed")
    config = conf(lab)
    if mix.startswith("pynet"):
        plugin, cni_path = BRIDGE, "/usr/lib/cni"
        config["ipMasq"] = False  # keep the host's iptables out of it: only the IPAM side differs
    else:
        plugin, cni_path = reference_path("bridge"), lab["cni_path"]
        config["ipMasq"] = False
    lab["cni_path"] = cni_path
    first = cni(lab, "ADD", config, "c1", plugin=plugin)
    second = cni(lab, "ADD", config, "c2", plugin=plugin)
    assert first.ok and second.ok, first.stdout + second.stdout
    assert ping(lab["c1"], "10.77.0.3")
    for c in ("c1", "c2"):
        assert cni(lab, "DEL", config, c, plugin=plugin).ok
    assert sorted(os.listdir(os.path.join(lab["data"], "net1"))) == ["last_reserved_ip.0", "lock"]


@pytest.mark.parametrize("extra,code,text", [
    ({"vlan": 5000}, 7, "invalid vlan"),
    ({"vlan": True}, 7, "invalid vlan"),
    ({"vlanTrunk": [{"minID": 20, "maxID": 10}]}, 7, "vlanTrunk"),
    ({"vlanTrunk": [{"minID": 20}]}, 7, "vlanTrunk"),
    ({"vlanTrunk": [{"id": 0}]}, 7, "vlanTrunk"),
    ({"macspoofchk": True}, 2, "macspoofchk"),
    ({"bridge": "a-very-long-bridge-name"}, 7, "bridge name"),
    ({"mtu": 20}, 7, "mtu"),
    ({"isGateway": "yes"}, 7, "isGateway"),
    ({"firewallBackend": "pf"}, 7, "firewallBackend"),
])
def test_bad_configuration(extra, code, text, lab):
    before = lab["host"].snapshot(switches=True)
    added = cni(lab, "ADD", conf(lab, **extra))
    assert added.returncode != 0 and added.json["code"] == code
    assert text in added.json["msg"]
    assert lab["host"].snapshot(switches=True) == before
    assert "eth0" not in lab["c1"].links()


def kernel_has_vlan_filtering(ns) -> bool:
    probe = ns.run("ip", "link", "add", "pnvlanprobe", "type", "bridge", "vlan_filtering", "1", check=False)
    ns.run("ip", "link", "del", "pnvlanprobe", check=False)
    return probe.returncode == 0


@pytest.mark.parametrize("extra", [{"vlan": 100}, {"vlanTrunk": [{"id": 30}]}])
def test_vlans_on_a_kernel_without_bridge_vlan_filtering(extra, lab):
    """This machine's kernel refuses vlan_filtering; VLANs themselves are tested in a VM (tests/vm)."""
    if kernel_has_vlan_filtering(lab["host"]):
        pytest.skip("this kernel has bridge VLAN filtering: tests/vm/guest_bridge_vlan.py covers VLANs")
    before = lab["host"].snapshot(switches=True)
    added = cni(lab, "ADD", conf(lab, **extra))
    assert added.returncode != 0 and added.json["code"] == 101
    assert "no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)" in added.json["msg"]
    assert lab["host"].snapshot(switches=True) == before
    assert "eth0" not in lab["c1"].links()
    assert not os.path.exists(os.path.join(lab["data"], "net1"))  # refused before IPAM was asked


def test_existing_link_that_is_not_a_bridge(lab):
    lab["host"].run("ip", "link", "add", lab["bridge"], "type", "veth", "peer", "name", "pnx0")
    added = cni(lab, "ADD", conf(lab))
    assert added.json["code"] == 7 and "is not a bridge" in added.json["msg"]
    assert "eth0" not in lab["c1"].links()


def second_network(lab, make_netns, **extra) -> dict:
    """Another bridge network (10.76.0.0/24) on the same host."""
    return conf(lab, name="net2", bridge=lab["bridge"] + "x",
                ipam={"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": "10.76.0.0/24"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]},
                **extra)


def test_isolated_networks_cannot_reach_each_other(lab, make_netns):
    other = make_netns("x")
    lab["x"] = other
    assert cni(lab, "ADD", conf(lab, isolation=True), "c1").ok
    assert cni(lab, "ADD", second_network(lab, make_netns, isolation=True), "x").ok
    assert ping(lab["c1"], "10.77.0.1")  # own gateway
    assert not ping(lab["c1"], "10.76.0.2") and not ping(other, "10.77.0.2")
    # the second network's last DEL takes its isolation away; without isolation, the two can talk
    assert cni(lab, "DEL", second_network(lab, make_netns, isolation=True), "x").ok
    assert lab["bridge"] + "x" not in lab["host"].run("nft", "list", "set", "inet", "pynet", "iso").stdout
    again = cni(lab, "ADD", second_network(lab, make_netns), "x")
    assert ping(lab["c1"], again.json["ips"][0]["address"].split("/")[0])


def test_a_failed_isolated_add_on_a_busy_host_takes_the_forward_chain_away_again(lab, make_netns):
    """The first isolated network adds the forward chain to a table that had none; an ADD that fails
    after any of its steps leaves the host as it was, that chain included."""
    assert cni(lab, "ADD", conf(lab), "c2").ok  # a network without isolation: no forward chain
    lab["x"] = make_netns("x")
    before = lab["host"].snapshot(switches=True)
    assert "hook forward" not in before["nft"]
    for fail_at in range(1, 20):
        added = cni(lab, "ADD", second_network(lab, make_netns, isolation=True), "x",
                    env={"PYNET_FAIL_AT": str(fail_at)})
        if added.ok:
            break
        assert "injected fault" in added.json["msg"], added.stdout
        assert lab["host"].snapshot(switches=True) == before, f"after a fault at step {fail_at}"
    assert added.ok and fail_at > 3, added.stdout
    assert "hook forward" in lab["host"].snapshot(switches=True)["nft"]


@pytest.mark.parametrize("br_netfilter", ["1", "0"], ids=["br_nf-on", "br_nf-off"])
def test_icc_false_blocks_containers_of_one_network(br_netfilter, lab):
    """In the bridge family: with or without br_netfilter's hook in the host."""
    lab["host"].run("sysctl", "-qw", f"net.bridge.bridge-nf-call-iptables={br_netfilter}")
    config = conf(lab, icc=False)
    assert cni(lab, "ADD", config, "c1").ok and cni(lab, "ADD", config, "c2").ok
    assert ping(lab["c1"], "10.77.0.1") and ping(lab["c2"], "10.77.0.1")  # the gateway stays reachable
    assert not ping(lab["c1"], "10.77.0.3") and not ping(lab["c2"], "10.77.0.2")
    assert cni(lab, "DEL", config, "c2").ok
    assert "id-c2" not in lab["host"].run("nft", "list", "table", "bridge", "pynet").stdout
    again = cni(lab, "ADD", conf(lab), "c2")  # a container with icc on is reachable again
    assert ping(lab["c1"], again.json["ips"][0]["address"].split("/")[0])


def test_dual_stack_default_gateway_mtu_mac_promisc(lab):
    config = conf(lab, "1.1.0", isGateway=False, isDefaultGateway=True, mtu=1400, promiscMode=True,
                  ipam={"type": "host-local", "dataDir": lab["data"],
                        "ranges": [[{"subnet": "10.77.0.0/24"}], [{"subnet": "fd00:77::/64"}]]},
                  runtimeConfig={"mac": "02:00:00:77:00:02"})
    added = cni(lab, "ADD", config)
    assert added.ok, added.stdout
    result = added.json
    assert [ip["address"] for ip in result["ips"]] == ["10.77.0.2/24", "fd00:77::2/64"]
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.77.0.1"}, {"dst": "::/0", "gw": "fd00:77::1"}]
    assert result["interfaces"][2]["mac"] == "02:00:00:77:00:02"
    inside, host = lab["c1"].links()["eth0"], lab["host"].links()
    assert inside["mtu"] == 1400 and inside["address"] == "02:00:00:77:00:02"
    assert host[lab["bridge"]]["mtu"] == 1400 and "PROMISC" in host[lab["bridge"]]["flags"]
    assert host[result["interfaces"][1]["name"]]["mtu"] == 1400
    routes = lab["c1"].run("ip", "-6", "route", "show", "default").stdout
    assert "via fd00:77::1" in routes
    assert "tentative" not in lab["c1"].run("ip", "-6", "addr", "show", "dev", "eth0").stdout  # DAD off
    assert ping(lab["c1"], "10.77.0.1")
    assert lab["c1"].run("ping", "-6", "-c1", "-W2", "fd00:77::1", check=False).returncode == 0
    ruleset = lab["host"].run("nft", "list", "set", "inet", "pynet", "masq6").stdout
    assert "fd00:77::2" in ruleset
    assert lab["host"].run("cat", "/proc/sys/net/ipv6/conf/all/forwarding").stdout.strip() == "1"
    assert cni(lab, "CHECK", {**config, "prevResult": result}).ok
    assert cni(lab, "DEL", config).ok
    assert "fd00:77::2" not in lab["host"].run("nft", "list", "ruleset").stdout


def test_mac_from_cni_args(lab):
    added = cni(lab, "ADD", conf(lab), args="IgnoreUnknown=1;MAC=02:00:00:77:00:09")
    assert added.ok and added.json["interfaces"][2]["mac"] == "02:00:00:77:00:09"
    assert lab["c1"].links()["eth0"]["address"] == "02:00:00:77:00:09"


def test_check_notices_a_removed_route(lab):
    config = conf(lab, "1.0.0")
    result = cni(lab, "ADD", config).json
    assert cni(lab, "CHECK", {**config, "prevResult": result}).ok
    lab["c1"].run("ip", "route", "del", "default")
    checked = cni(lab, "CHECK", {**config, "prevResult": result})
    assert checked.returncode != 0 and "route to 0.0.0.0/0 missing" in checked.json["details"]


def gateway_neighbour(ns) -> tuple[str, str]:
    """(MAC, state) of the container's neighbour entry for the gateway 10.77.0.1."""
    entry = ns.run("ip", "-j", "neigh", "show", "10.77.0.1", "dev", "eth0").stdout
    found = json.loads(entry or "[]")
    return (found[0].get("lladdr", ""), found[0].get("state", [""])[0]) if found else ("", "")


def test_the_gateway_mac_stays_when_the_first_container_leaves(lab, make_netns):
    """Left to the kernel, a bridge takes the lowest MAC of its ports: the first container's veth
    (made the lowest here), then another's when that one leaves, while the other containers keep
    the old gateway MAC in their ARP cache. The bridge's MAC must be its own from creation on."""
    lab["c3"] = make_netns("d")
    link_outside(lab["host"], make_netns("o"))
    config = conf(lab)
    first = cni(lab, "ADD", config, "c1")
    assert first.ok, first.stdout
    lab["host"].run("ip", "link", "set", first.json["interfaces"][1]["name"], "address", "02:00:00:00:00:01")
    bridge_mac = lab["host"].links()[lab["bridge"]]["address"]
    macs = []
    for c in ("c2", "c3"):
        assert cni(lab, "ADD", config, c).ok
        macs.append(lab["host"].links()[lab["bridge"]]["address"])
        assert ping(lab[c], "10.77.0.1")  # the gateway's MAC is in the container's ARP cache now
    assert cni(lab, "DEL", config, "c1").ok
    macs.append(lab["host"].links()[lab["bridge"]]["address"])
    for c in ("c2", "c3"):  # at once, with the cached entry: no ARP round (-W1 leaves no time for one)
        cached, state = gateway_neighbour(lab[c])
        assert cached == bridge_mac and state in ("REACHABLE", "STALE", "DELAY"), (cached, state)
        assert lab[c].run("ping", "-c1", "-W1", "10.77.0.1", check=False).returncode == 0, f"{c}: gateway"
        assert lab[c].run("ping", "-c1", "-W1", "192.0.2.2", check=False).returncode == 0, f"{c}: uplink side"
    assert macs == [bridge_mac] * 3
    assert bridge_mac != "02:00:00:00:00:01" and int(bridge_mac[:2], 16) & 0x03 == 0x02  # its own, local unicast


def reservations(lab, network: str = "net1") -> list[str]:
    return sorted(f for f in os.listdir(os.path.join(lab["data"], network)) if f.startswith("10."))


def test_del_runs_every_step_when_the_firewall_refuses(lab):
    """A failing masquerade removal does not keep the address reserved or the veth in place: every
    DEL step runs, and the error names what failed."""
    from tests.integration.held_table import table_held_by_another_process

    config = conf(lab)
    assert cni(lab, "ADD", config).ok
    with table_held_by_another_process(lab["host"]):
        deleted = cni(lab, "DEL", config)
        assert deleted.returncode == 1 and deleted.json["code"] == 101, deleted.stdout
        assert "nftables transaction failed" in deleted.json["msg"]
        assert "Operation not permitted" in deleted.json["details"]
        assert "10.77.0.2" in lab["host"].run("nft", "list", "set", "inet", "pynet", "masq4").stdout  # refused
    assert reservations(lab) == []
    assert "eth0" not in lab["c1"].links() and not [n for n in lab["host"].links() if n.startswith("pnv")]
    assert cni(lab, "DEL", config).ok  # and once the firewall lets it, DEL is done


def test_del_with_a_missing_ipam_plugin_removes_everything_else(lab, tmp_path):
    """Code 7 for the IPAM plugin that is not there (its reservation stays: only it can release it),
    but the veth and the masquerade go."""
    config = conf(lab)
    assert cni(lab, "ADD", config).ok
    (tmp_path / "empty").mkdir()
    deleted = cni({**lab, "cni_path": str(tmp_path / "empty")}, "DEL", config)
    assert deleted.returncode == 1 and deleted.json["code"] == 7 and "host-local" in deleted.json["msg"]
    assert "eth0" not in lab["c1"].links() and not [n for n in lab["host"].links() if n.startswith("pnv")]
    assert "10.77.0.2" not in ruleset(lab["host"])
    assert reservations(lab) == ["10.77.0.2"]
    assert cni(lab, "DEL", config).ok and reservations(lab) == []


@pytest.mark.parametrize("network", ["net1", "net1-" + "x" * 60], ids=["short name", "long name"])
def test_gc_removes_every_resource_of_an_attachment_not_in_the_valid_list(network, lab, make_netns):
    """Three containers; c2 is forgotten by its runtime (its namespace lives on), c3's namespace is
    gone (its veth with it). GC with only c1 valid: c2's host veth (found by its owner-tag alias),
    and c2's and c3's masquerade elements and reservations go; c1 keeps everything. (A long network
    name appears shortened in owner tags.)"""
    from cni.firewall import owner_tag

    lab["c3"] = make_netns("d")
    config = conf(lab, "1.1.0", name=network)
    added = {c: cni(lab, "ADD", config, c) for c in ("c1", "c2", "c3")}
    assert all(run.ok for run in added.values()), [run.stdout for run in added.values()]
    veth = {c: run.json["interfaces"][1]["name"] for c, run in added.items()}
    aliases = {name: link.get("ifalias") for name, link in lab["host"].links().items() if name.startswith("pnv")}
    assert aliases == {veth[c]: owner_tag(network, f"id-{c}", "eth0") for c in added}
    lab["c3"].delete()

    def gc(valid):
        return run_plugin(BRIDGE, "GC", {**config, "cni.dev/valid-attachments": valid}, container_id="", ifname="",
                          cni_path=lab["cni_path"], host=lab["host"].name)

    collected = gc([{"containerID": "id-c1", "ifname": "eth0"}])
    assert collected.ok and collected.stdout == "", collected.stdout
    assert [n for n in lab["host"].links() if n.startswith("pnv")] == [veth["c1"]]
    assert "eth0" not in lab["c2"].links()
    masquerade = lab["host"].run("nft", "list", "set", "inet", "pynet", "masq4").stdout
    assert "10.77.0.2" in masquerade and "10.77.0.3" not in masquerade and "10.77.0.4" not in masquerade
    assert reservations(lab, network) == ["10.77.0.2"]
    assert ping(lab["c1"], "10.77.0.1")
    assert gc([]).ok  # nothing valid: nothing of the network's attachments is left
    assert not [n for n in lab["host"].links() if n.startswith("pnv")] and reservations(lab, network) == []
    assert "10.77.0.2" not in ruleset(lab["host"])


def test_a_bridge_another_add_created_meanwhile_is_used_not_an_error(lab, monkeypatch):
    """Containers started at once (ctr, buildah, Podman): two first ADDs both find no bridge and both
    create it; the one the kernel answers 'File exists' uses the other's bridge (and never deletes
    it on rollback)."""
    from cni.kernel.links import netlink
    from cni.kernel.undo import UndoLog
    from cni.plugins import bridging

    lab["host"].run("ip", "link", "add", lab["bridge"], "type", "bridge")
    real = bridging.link_index
    seen = []
    monkeypatch.setattr(bridging, "link_index", lambda ipr, name: None if not seen.append(name) and len(seen) == 1
                        else real(ipr, name))  # the first lookup comes before the other ADD's creation
    with netlink(lab["host"].path) as host:
        with pytest.raises(RuntimeError), UndoLog() as undo:
            index = bridging.ensure_bridge(host, lab["bridge"], undo)
            assert index == real(host, lab["bridge"])
            raise RuntimeError("a later step fails: the rollback must leave the other ADD's bridge")
    assert lab["bridge"] in lab["host"].links()
