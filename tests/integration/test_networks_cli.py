"""`pynet create bridge` and `pynet network ...` on a simulated host: conflists, subnet choice,
removal refused while containers are attached, and one-line errors."""

from __future__ import annotations

import json
import os

import pytest

from tests.integration.simhost import error_line, simhost  # noqa: F401

pytestmark = pytest.mark.root


def conflist(simhost, name: str) -> dict:
    with open(os.path.join(simhost.conf_dir, f"{name}.conflist")) as f:
        return json.load(f)


def test_create_writes_a_bridge_portmap_firewall_tuning_dnsname_conflist(simhost):
    created = simhost.json("create", "bridge", "alpha")
    assert created["subnets"] == ["172.17.0.0/16"] and created["bridge"] == "pn-alpha"
    doc = conflist(simhost, "alpha")
    assert [p["type"] for p in doc["plugins"]] == ["bridge", "portmap", "firewall", "tuning", "dnsname"]
    assert doc["plugins"][4] == {"type": "dnsname", "domainName": "dns.pynet", "capabilities": {"aliases": True}}
    simhost.json("create", "bridge", "beta", "--disable-dns")
    assert [p["type"] for p in conflist(simhost, "beta")["plugins"]] == ["bridge", "portmap", "firewall", "tuning"]
    assert simhost.json("network", "inspect", "alpha")["dns_enabled"] is True
    assert simhost.json("network", "inspect", "beta")["dns_enabled"] is False
    bridge = doc["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "172.17.0.0/16", "gateway": "172.17.0.1"}]]
    assert bridge["ipam"]["dataDir"] == os.path.join(simhost.cache_dir, "networks")  # the simulated host's
    assert bridge["ipMasq"] and bridge["icc"] and bridge["isolation"]
    assert doc["plugins"][1]["capabilities"] == {"portMappings": True}


def test_create_overlay_chains_portmap_and_a_default_gateway_on_request(simhost):
    common = ("--network", "10.99.0.0/16", "--underlay", "lo")
    simhost.json("create", "overlay", "ov1", "--vni", "99", *common)
    simhost.json("create", "overlay", "ov2", "--vni", "98", "--network", "10.98.0.0/16", "--underlay", "lo",
                 "--default-gateway", "--disable-dns")
    one, two = conflist(simhost, "ov1")["plugins"], conflist(simhost, "ov2")["plugins"]
    assert [p["type"] for p in one] == ["overlay", "portmap", "dnsname"] and "isDefaultGateway" not in one[0]
    assert [p["type"] for p in two] == ["overlay", "portmap"] and two[0]["isDefaultGateway"] is True
    assert one[1] == {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}


def test_subnets_avoid_routes_and_other_networks(simhost):
    simhost.ns.run("ip", "route", "add", "blackhole", "172.17.0.0/16")
    simhost.ns.run("ip", "route", "add", "blackhole", "172.19.5.0/24")
    assert simhost.json("create", "bridge", "one")["subnets"] == ["172.18.0.0/16"]
    assert simhost.json("create", "bridge", "two")["subnets"] == ["172.20.0.0/16"]
    ls = simhost.json("network", "ls")
    assert [(n["name"], n["subnets"]) for n in ls] == [("one", ["172.18.0.0/16"]), ("two", ["172.20.0.0/16"])]


def test_routes_of_every_table_take_their_subnet_but_default_routes_do_not(simhost):
    simhost.ns.run("ip", "route", "add", "unreachable", "172.17.0.0/16", "table", "100")
    simhost.ns.run("ip", "route", "add", "blackhole", "172.18.3.0/24", "table", "3000")
    simhost.ns.run("ip", "route", "add", "local", "172.19.0.9", "dev", "lo", "table", "local")
    simhost.ns.run("ip", "route", "add", "unreachable", "default", "table", "100")
    simhost.ns.run("ip", "-6", "route", "add", "blackhole", "fd00:17::/64", "table", "100")
    assert simhost.json("create", "bridge", "one")["subnets"] == ["172.20.0.0/16"]


def test_options_internal_mtu_no_icc_ipv6_gateway(simhost):
    simhost.pynet("network", "create", "bridge", "opts", "--subnet", "10.50.0.0/24", "--gateway", "10.50.0.254",
                  "--ipv6", "fd00:50::/64", "--internal", "--mtu", "1400", "--no-icc")
    bridge = conflist(simhost, "opts")["plugins"][0]
    assert bridge["mtu"] == 1400 and bridge["icc"] is False and bridge["ipMasq"] is False
    assert bridge["ipam"]["routes"] == []
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.50.0.0/24", "gateway": "10.50.0.254"}],
                                        [{"subnet": "fd00:50::/64", "gateway": "fd00:50::1"}]]
    simhost.pynet("run", "-d", "--name", "c", "--network", "opts", "--", "sleep", "300")
    out = simhost.sh("c", "ip -br addr show eth0; ip link show eth0")
    assert "10.50.0." in out and "fd00:50::" in out and "mtu 1400" in out
    assert simhost.sh("c", "ip route show default; ip -6 route show default") == ""  # internal


def test_inspect_and_ls_show_the_attached_containers(simhost):
    simhost.pynet("create", "bridge", "seen", "--subnet", "10.51.0.0/24")
    simhost.pynet("run", "-d", "--name", "w1", "--network", "seen", "--", "sleep", "300")
    info = simhost.json("network", "inspect", "seen")
    assert [(c["name"], c["ifname"], c["addresses"]) for c in info["containers"]] == [("w1", "eth0", ["10.51.0.2/24"])]
    assert info["bridge"] == "pn-seen" and info["created_by_pynet"] is True
    assert simhost.json("network", "ls")[0]["containers"] == 1
    table = simhost.pynet("network", "inspect", "seen").stdout
    assert "w1" in table and "10.51.0.2/24" in table


def test_rm_refused_while_attached_then_removes_everything(simhost):
    simhost.pynet("create", "bridge", "busy", "--subnet", "10.52.0.0/24")
    simhost.pynet("run", "-d", "--name", "user", "--network", "busy", "--", "sleep", "300")
    line = error_line(simhost.pynet("network", "rm", "busy", check=False))
    assert "in use by 1 container(s) (user)" in line
    simhost.pynet("rm", "-f", "user")
    simhost.pynet("network", "rm", "busy")
    assert simhost.json("network", "ls") == []
    assert "pn-busy" not in simhost.ns.links()
    assert simhost.ns.run("nft", "list", "ruleset").stdout.strip() == ""  # pynet's tables went with the network
    assert not os.path.exists(os.path.join(simhost.cache_dir, "networks", "busy"))


def test_prune_removes_only_unused_networks_pynet_made(simhost):
    for name, subnet in (("used", "10.53.0.0/24"), ("idle", "10.54.0.0/24")):
        simhost.pynet("create", "bridge", name, "--subnet", subnet)
    foreign = os.path.join(simhost.conf_dir, "foreign.conflist")
    with open(foreign, "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "foreign", "plugins": [{"type": "loopback"}]}, f)
    simhost.pynet("run", "-d", "--name", "u", "--network", "used", "--", "sleep", "300")
    assert simhost.json("network", "prune") == [{"name": "idle"}]
    assert sorted(n["name"] for n in simhost.json("network", "ls")) == ["foreign", "used"]


@pytest.mark.parametrize("argv,message", [
    (["create", "bridge", "b1", "--subnet", "10.0.0.0/33"], "invalid --subnet"),
    (["create", "bridge", "b1", "--subnet", "10.0.0.1/24"], "invalid --subnet"),
    (["create", "bridge", "b1", "--subnet", "fd00::/64"], "invalid --subnet"),
    (["create", "bridge", "b1", "--subnet", "10.0.0.0/24", "--gateway", "10.9.9.9"], "not a host address"),
    (["create", "bridge", "b1", "--mtu", "10"], "invalid --mtu"),
    (["create", "bridge", "bad/name"], "invalid network name"),
    (["create", "bridge", "none"], "invalid network name"),
    (["create", "bridge", "b1", "--ipv6", "10.0.0.0/24"], "invalid --ipv6"),
    (["create", "vxlan", "o1"], "invalid choice"),
    (["create", "overlay", "o1"], "required: --vni, --network, --underlay"),
    (["create", "overlay", "o1", "--vni", "0", "--network", "10.9.0.0/16", "--underlay", "lo"], "invalid vni"),
    (["network", "inspect", "nothere"], "no network named 'nothere'"),
    (["network", "rm", "nothere"], "no network named 'nothere'"),
])
def test_bad_input_is_one_line_and_writes_nothing(simhost, argv, message):
    assert message in error_line(simhost.pynet(*argv, check=False))
    assert not os.path.isdir(simhost.conf_dir) or os.listdir(simhost.conf_dir) == []


def test_duplicate_name_and_overlapping_subnet_are_refused(simhost):
    simhost.pynet("create", "bridge", "first", "--subnet", "10.60.0.0/16")
    assert "already exists" in error_line(simhost.pynet("create", "bridge", "first", check=False))
    line = error_line(simhost.pynet("create", "bridge", "second", "--subnet", "10.60.8.0/24", check=False))
    assert "overlaps network 'first'" in line
    assert os.listdir(simhost.conf_dir) == ["first.conflist"]


def test_a_broken_conflist_is_a_clear_error_for_run_but_ls_goes_on(simhost):
    simhost.pynet("create", "bridge", "good", "--subnet", "10.61.0.0/24")
    with open(os.path.join(simhost.conf_dir, "broken.conflist"), "w") as f:
        f.write('{"cniVersion": "1.0.0", "name": "broken", "plugins": [')
    assert [n["name"] for n in simhost.json("network", "ls")] == ["good"]
    line = error_line(simhost.pynet("run", "--network", "broken", "--", "true", check=False))
    assert "broken.conflist" in line and "not valid JSON" in line
    assert simhost.states() == []


def test_an_unknown_plugin_type_fails_the_run_and_leaves_nothing(simhost):
    os.makedirs(simhost.conf_dir)
    with open(os.path.join(simhost.conf_dir, "odd.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "odd", "plugins": [{"type": "loopback"}, {"type": "nosuchplugin"}]},
                  f)
    line = error_line(simhost.pynet("run", "--network", "odd", "--", "true", check=False))
    assert "nosuchplugin" in line
    assert simhost.states() == []
    results = os.path.join(simhost.cache_dir, "results")
    assert not os.path.isdir(results) or os.listdir(results) == []


def test_macvlan_network_two_containers_on_the_lan(simhost, make_netns):
    lan = make_netns("l")
    simhost.ns.run("ip", "link", "add", "m0", "type", "veth", "peer", "name", "lan0", "netns", lan.name)
    simhost.ns.run("ip", "link", "set", "m0", "up")
    lan.run("ip", "addr", "add", "192.168.50.100/24", "dev", "lan0")
    lan.run("ip", "link", "set", "lan0", "up")
    created = simhost.json("create", "macvlan", "lan", "--parent", "m0", "--subnet", "192.168.50.0/24")
    assert created["driver"] == "macvlan" and created["subnets"] == ["192.168.50.0/24"]
    for name in ("m1", "m2"):
        simhost.pynet("run", "-d", "--name", name, "--network", "lan", "--", "sleep", "300")
    addresses = {row["name"]: row["addresses"][0].split("/")[0] for row in simhost.json("ps")}
    assert " 0% packet loss" in simhost.sh("m1", f"ping -c1 -W2 {addresses['m2']}")
    assert " 0% packet loss" in simhost.sh("m2", "ping -c1 -W2 192.168.50.100")  # a machine on the LAN
    assert simhost.sh("m1", "ip route show default").startswith("default via 192.168.50.1")
    assert "network lan: macvlan m0, subnet 192.168.50.0/24" in simhost.pynet("topology").stdout
    simhost.pynet("rm", "-f", "m1", "m2")
    simhost.pynet("network", "rm", "lan")
    assert list(simhost.ns.links()) == ["lo", "m0"]


@pytest.mark.parametrize("argv,message", [
    (["--parent", "nosuchif", "--subnet", "192.168.60.0/24"], "no such interface"),
    (["--parent", "lo"], "needs --subnet"),
    (["--parent", "lo", "--subnet", "192.168.60.0/24", "--mode", "weird"], "invalid --mode"),
])
@pytest.mark.parametrize("kind", ["macvlan", "ipvlan"])
def test_bad_macvlan_and_ipvlan_input(simhost, kind, argv, message):
    assert message in error_line(simhost.pynet("create", kind, "mv", *argv, check=False))
    assert not os.path.isdir(simhost.conf_dir) or os.listdir(simhost.conf_dir) == []


def test_ipvlan_network_conflist_and_this_kernel(simhost):
    """`pynet create ipvlan` writes the network; containers on it need a kernel with ipvlan (the
    qemu VM tests cover ipvlan itself), and this one gets a clear error and nothing left over."""
    simhost.ns.run("ip", "link", "add", "m0", "type", "veth", "peer", "name", "m1")
    created = simhost.json("create", "ipvlan", "lan", "--parent", "m0", "--subnet", "192.168.51.0/24",
                           "--mode", "l3")
    assert created["driver"] == "ipvlan" and created["subnets"] == ["192.168.51.0/24"]
    with open(os.path.join(simhost.conf_dir, "lan.conflist")) as f:
        plugin = json.load(f)["plugins"][0]
    assert (plugin["type"], plugin["master"], plugin["mode"]) == ("ipvlan", "m0", "l3")
    assert plugin["capabilities"] == {"ips": True}
    probe = simhost.ns.run("ip", "link", "add", "link", "m0", "name", "pnprobe", "type", "ipvlan", check=False)
    if probe.returncode == 0:
        simhost.ns.run("ip", "link", "del", "pnprobe")
        pytest.skip("this kernel has ipvlan: tests/vm covers ipvlan containers")
    failed = simhost.pynet("run", "--name", "i1", "--network", "lan", "--", "true", check=False)
    assert failed.returncode != 0 and "ipvlan" in error_line(failed)
    assert simhost.json("ps", "-a") == []
    simhost.pynet("network", "rm", "lan")


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_a_networks_isolation_leaves_with_its_last_container_and_rm_leaves_nothing(simhost, backend):
    for name, subnet in (("iso1", "10.55.0.0/24"), ("iso2", "10.56.0.0/24")):
        simhost.pynet("create", "bridge", name, "--subnet", subnet)
        path = os.path.join(simhost.conf_dir, f"{name}.conflist")
        with open(path) as f:
            doc = json.load(f)
        doc["plugins"][0]["firewallBackend"] = backend
        doc["plugins"][2]["backend"] = backend
        with open(path, "w") as f:
            json.dump(doc, f)
        simhost.pynet("run", "-d", "--name", f"c-{name}", "--network", name, "--", "sleep", "300")

    def firewall() -> str:
        return simhost.ns.run("nft", "list", "ruleset").stdout + simhost.ns.run("iptables-save").stdout

    assert "pn-iso1" in firewall() and "pn-iso2" in firewall()
    simhost.pynet("rm", "-f", "c-iso1")
    assert "pn-iso1" not in firewall() and "pn-iso2" in firewall()
    simhost.pynet("network", "rm", "iso1")
    simhost.pynet("rm", "-f", "c-iso2")
    simhost.pynet("network", "rm", "iso2")
    assert "pn-iso" not in firewall() and "pynet" not in firewall().lower()


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_rm_releases_what_an_attachment_never_deleted_left(simhost, backend):
    """Firewall state of an attachment no DEL will come for (its runtime died before it): `network
    rm` takes it, and the network's own elements with it."""
    simhost.pynet("create", "bridge", "left", "--subnet", "10.57.0.0/24")
    path = os.path.join(simhost.conf_dir, "left.conflist")
    with open(path) as f:
        doc = json.load(f)
    doc["plugins"][0]["firewallBackend"] = doc["plugins"][1]["firewallBackend"] = backend
    with open(path, "w") as f:
        json.dump(doc, f)
    simhost.pynet("run", "-d", "--name", "c", "--network", "left", "-p", "8080:80", "--", "sleep", "300")
    if backend == "nftables":
        simhost.ns.run("nft", "add", "element", "inet", "pynet", "masq4", '{ 10.57.0.99 comment "left/stale/eth0" }')
        simhost.ns.run("nft", "add", "element", "inet", "pynet", "pm4",
                       '{ tcp . 9999 comment "left/stale/eth0" : 10.57.0.99 . 80 }')
    else:
        for chain, rule in (("PYNET-POSTROUTING", ["-s", "10.57.0.99", "-j", "MASQUERADE"]),
                            ("PYNET-PORTS", ["-p", "tcp", "--dport", "9999", "-j", "DNAT", "--to-destination",
                                             "10.57.0.99:80"])):
            simhost.ns.run("iptables", "-t", "nat", "-A", chain, "-m", "comment", "--comment",
                           f"pynet:{'masquerade' if chain == 'PYNET-POSTROUTING' else 'ports'}:left/stale/eth0", *rule)

    def firewall() -> str:
        return simhost.ns.run("nft", "list", "ruleset").stdout + simhost.ns.run("iptables-save").stdout

    simhost.pynet("rm", "-f", "c")
    assert "9999" in firewall() and "10.57.0.99" in firewall() and "8080" not in firewall()
    simhost.pynet("network", "rm", "left")
    assert "pynet" not in firewall().lower() and "10.57.0." not in firewall()


def test_rm_has_each_plugin_release_its_own_state(simhost):
    """The bridge adds no rules ("firewallBackend": "none"), portmap and firewall use nftables: their
    GC, not the bridge's, takes what a lost attachment left in pynet's table."""
    simhost.pynet("create", "bridge", "own", "--subnet", "10.58.0.0/24")
    path = os.path.join(simhost.conf_dir, "own.conflist")
    with open(path) as f:
        doc = json.load(f)
    doc["plugins"][0]["firewallBackend"] = "none"
    with open(path, "w") as f:
        json.dump(doc, f)
    simhost.pynet("run", "-d", "--name", "c", "--network", "own", "-p", "8080:80", "--", "sleep", "300")
    simhost.pynet("rm", "-f", "c")
    simhost.ns.run("nft", "add", "table", "inet", "pynet")
    simhost.ns.run("nft", "add", "map", "inet", "pynet", "pm4",
                   "{ type inet_proto . inet_service : ipv4_addr . inet_service; }")
    simhost.ns.run("nft", "add", "element", "inet", "pynet", "pm4", '{ tcp . 9999 comment "own/stale/eth0" : 10.58.0.99 . 80 }')
    simhost.pynet("network", "rm", "own")
    assert "pynet" not in simhost.ns.run("nft", "list", "ruleset").stdout
