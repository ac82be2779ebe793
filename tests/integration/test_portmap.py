"""pynet-portmap chained after pynet-bridge: published ports reached from another host, from the
host itself (also 127.0.0.1), from containers (hairpin); exact DEL; constant rule count."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from cni.spec import SUPPORTED
from tests.netns import install_plugins, link_outside, plugin_path, run_plugin

pytestmark = pytest.mark.root

BRIDGE, PORTMAP = plugin_path("bridge"), plugin_path("portmap")
SERVER = """
import socket, sys
kind, port, text = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(100); s.sendto(text, peer)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", port)); s.listen(16)
while True:
    c, peer = s.accept(); c.sendall(text + b" " + peer[0].encode()); c.close()
"""
CLIENT = """
import socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.sendto(b"hi", (host, port))
    print(s.recv(100).decode())
else:
    print(socket.create_connection((host, port), 3).recv(100).decode())
"""


@pytest.fixture
def lab(make_netns, tmp_path, token):
    host, c1, c2, outside = make_netns("h"), make_netns("a"), make_netns("b"), make_netns("o")
    link_outside(host, outside)
    bin_dir = install_plugins(tmp_path / "bin")
    servers: list[subprocess.Popen] = []
    yield {"host": host, "c1": c1, "c2": c2, "outside": outside, "cni_path": bin_dir,
           "data": str(tmp_path / "ipam"), "bridge": f"pnb{token}", "servers": servers}
    for server in servers:
        server.kill()
        server.wait()


BACKENDS = ["nftables", "iptables"]


def ruleset(ns) -> str:
    return ns.run("nft", "list", "ruleset").stdout


def bridge_conf(lab, version="1.0.0") -> dict:
    return {"cniVersion": version, "name": "pmnet", "type": "bridge", "bridge": lab["bridge"], "isGateway": True,
            "ipMasq": True, "hairpinMode": True, "firewallBackend": lab.get("backend", "nftables"), "ipam": {"type": "host-local", "dataDir": lab["data"],
                                     "ranges": [[{"subnet": "10.78.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}


def cni(lab, plugin, command, config, container):
    return run_plugin(plugin, command, config, netns=lab[container].path, container_id=f"id-{container}",
                      cni_path=lab["cni_path"], host=lab["host"].name)


def attach(lab, container, mappings, version="1.0.0", **extra):
    """bridge ADD then portmap ADD with the mappings; returns (portmap config, portmap run)."""
    added = cni(lab, BRIDGE, "ADD", bridge_conf(lab, version), container)
    assert added.ok, added.stdout
    config = {"cniVersion": version, "name": "pmnet", "type": "portmap", "runtimeConfig": {"portMappings": mappings},
              "firewallBackend": lab.get("backend", "nftables"), "prevResult": added.json, **extra}
    return config, cni(lab, PORTMAP, "ADD", config, container)


def serve(lab, container, port, text, kind="tcp"):
    lab["servers"].append(subprocess.Popen(["ip", "netns", "exec", lab[container].name, "python3", "-c", SERVER,
                                            kind, str(port), text]))
    for _ in range(100):
        listing = lab[container].run("ss", "-lnu" if kind == "udp" else "-lnt").stdout
        if f":{port} " in listing:
            return
        time.sleep(0.05)
    raise AssertionError(f"server on {container}:{port} did not start")


def connect(ns, host, port, kind="tcp") -> str:
    done = ns.run("python3", "-c", CLIENT, kind, host, str(port), check=False, timeout=10)
    return done.stdout.strip() if done.returncode == 0 else f"FAILED: {done.stderr.strip()[-200:]}"


@pytest.mark.parametrize("br_netfilter", ["1", "0"], ids=["br_nf-on", "br_nf-off"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_published_port_reached_from_everywhere(backend, br_netfilter, lab):
    """Also with br_netfilter's hook off in the host (bridged IP then skips the ip hooks): pynet's
    hairpin goes through SNAT, so it needs none of it."""
    lab["backend"] = backend
    lab["host"].run("sysctl", "-qw", f"net.bridge.bridge-nf-call-iptables={br_netfilter}")
    config, run = attach(lab, "c1", [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                                     {"hostPort": 5353, "containerPort": 53, "protocol": "udp"}])
    assert run.ok, run.stdout
    assert run.json == config["prevResult"]  # portmap passes the result through
    assert cni(lab, BRIDGE, "ADD", bridge_conf(lab), "c2").ok
    serve(lab, "c1", 80, "hello-from-c1")
    serve(lab, "c1", 53, "udp-from-c1", "udp")
    # another host, through the host's address: the server sees the client's own address
    assert connect(lab["outside"], "192.0.2.1", 8080) == "hello-from-c1 192.0.2.2"
    assert connect(lab["outside"], "192.0.2.1", 5353, "udp") == "udp-from-c1"
    # the host itself, on its address and on 127.0.0.1 (masqueraded to the bridge address)
    assert connect(lab["host"], "192.0.2.1", 8080).startswith("hello-from-c1")
    assert connect(lab["host"], "127.0.0.1", 8080) == "hello-from-c1 10.78.0.1"
    # hairpin: another container and the container itself (needs the bridge's hairpinMode, as
    # with the reference), through the host's address
    assert connect(lab["c2"], "192.0.2.1", 8080) == "hello-from-c1 10.78.0.1"
    assert connect(lab["c1"], "192.0.2.1", 8080) == "hello-from-c1 10.78.0.1"
    # an unpublished port is not forwarded
    assert connect(lab["outside"], "192.0.2.1", 8081).startswith("FAILED")


@pytest.mark.parametrize("backend", BACKENDS)
def test_host_ip_limits_where_the_port_is_published(backend, lab):
    lab["backend"] = backend
    lab["host"].run("ip", "addr", "add", "192.0.2.10/24", "dev", "up0")
    config, run = attach(lab, "c1", [{"hostPort": 8080, "containerPort": 80, "hostIP": "192.0.2.10"}])
    assert run.ok, run.stdout
    serve(lab, "c1", 80, "only-on-10")
    assert connect(lab["outside"], "192.0.2.10", 8080).startswith("only-on-10")
    assert connect(lab["outside"], "192.0.2.1", 8080).startswith("FAILED")


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_host_port_twice_fails_and_leaves_nothing(backend, lab):
    lab["backend"] = backend
    assert attach(lab, "c1", [{"hostPort": 8080, "containerPort": 80}])[1].ok
    before = [line for line in ruleset(lab["host"]).splitlines() if "8080" in line]
    config, run = attach(lab, "c2", [{"hostPort": 9090, "containerPort": 90}, {"hostPort": 8080, "containerPort": 80}])
    assert run.returncode != 0 and run.json["code"] == 106
    assert "8080" in run.json["details"]
    after = ruleset(lab["host"])
    assert "9090" not in after and not re.search(r"10\.78\.0\.3\S* \. (80|90)\b|10\.78\.0\.3:\d", after)
    assert [line for line in after.splitlines() if "8080" in line] == before


@pytest.mark.parametrize("version", SUPPORTED)
@pytest.mark.parametrize("backend", BACKENDS)
def test_add_check_del_exact_every_version(backend, version, lab):
    lab["backend"] = backend
    mappings = [{"hostPort": 8080, "containerPort": 80}]
    c1_config, c1 = attach(lab, "c1", mappings, version)
    c2_config, c2 = attach(lab, "c2", [{"hostPort": 8081, "containerPort": 80}], version)
    assert c1.ok and c2.ok
    if version >= "0.4.0":
        checked = cni(lab, PORTMAP, "CHECK", c1_config, "c1")
        assert checked.ok, checked.stdout
    for _ in range(2):
        assert cni(lab, PORTMAP, "DEL", c1_config, "c1").ok
    rules = ruleset(lab["host"])
    assert "8080" not in rules and re.search(r"\b8081\b", rules)  # exactly c1's mapping went
    if version >= "0.4.0":
        checked = cni(lab, PORTMAP, "CHECK", c1_config, "c1")
        assert checked.returncode != 0 and checked.json["code"] == 105 and "8080" in checked.json["details"]


def count_rules(ns) -> int:
    listing = json.loads(ns.run("nft", "-j", "list", "table", "inet", "pynet").stdout)
    return sum(1 for item in listing["nftables"] if "rule" in item)


def test_rule_count_is_constant_from_1_to_500_mappings(lab):
    assert attach(lab, "c1", [{"hostPort": 8080, "containerPort": 80}])[1].ok
    one = count_rules(lab["host"])
    many = [{"hostPort": 20000 + n, "containerPort": 80} for n in range(500)]
    config, run = attach(lab, "c2", many)
    assert run.ok, run.stdout
    assert count_rules(lab["host"]) == one
    elements = lab["host"].run("nft", "list", "map", "inet", "pynet", "pm4").stdout.count(" : 10.78.0.")
    assert elements == 501


@pytest.mark.parametrize("mapping,code,text", [
    ({"hostPort": 0, "containerPort": 80}, 7, "hostPort"),
    ({"hostPort": 70000, "containerPort": 80}, 7, "hostPort"),
    ({"hostPort": 8080, "containerPort": "80"}, 7, "containerPort"),
    ({"hostPort": 8080, "containerPort": 80, "protocol": "icmp"}, 7, "protocol"),
    ({"hostPort": 8080, "containerPort": 80, "hostIP": "not-an-ip"}, 7, "hostIP"),
])
def test_bad_mappings(mapping, code, text, lab):
    config, run = attach(lab, "c1", [mapping])
    assert run.returncode != 0 and run.json["code"] == code and text in run.json["msg"]
    assert "elements" not in lab["host"].run("nft", "list", "map", "inet", "pynet", "pm4").stdout


def test_without_prev_result_is_a_clear_error(lab):
    run = cni(lab, PORTMAP, "ADD", {"cniVersion": "1.0.0", "name": "pmnet", "type": "portmap"}, "c1")
    assert run.returncode != 0 and run.json["code"] == 7 and "prevResult" in run.json["msg"]
