"""cni/lab/topology.py: a lab's YAML file read into a Topology; every fault refused with the file's
name, the line and the key."""

from __future__ import annotations

import os

import pytest
import yaml

from cni.lab.common import LabError
from cni.lab.topology import Container, Network, TopologyError, parse, quick

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "lab.yaml")

GOOD = """\
name: two
hosts:
  a: {}
  b: {kind: netns}
networks:
  blue: {subnet: 10.50.0.0/16, vni: 50}
containers:
  web: {host: a, network: blue, command: [python3, -m, http.server, "80"], publish: ["8080:80"]}
  c: {host: b, network: blue, command: sleep 60}
"""


def test_the_example_file_as_docs_lab_md_describes_it():
    with open(EXAMPLE) as f:
        text = f.read()
    lab = parse(text)
    said = yaml.safe_load(text)
    assert [h.name for h in lab.hosts] == list(said["hosts"]) and lab.kind == "netns"
    assert lab.store.kind == said["store"]["kind"]
    assert {n.name: (n.subnet, n.vni) for n in lab.networks} == {
        name: (n["subnet"], n["vni"]) for name, n in said["networks"].items()}
    assert {c.name: (c.host, c.network) for c in lab.containers} == {
        name: (c["host"], c["network"]) for name, c in said["containers"].items()}
    assert lab.as_dict()["containers"]["web"]["publish"] == said["containers"]["web"]["publish"]


def test_defaults_and_commands():
    lab = parse(GOOD)
    assert lab.name == "two" and lab.store.kind == "file" and lab.store.members == 1
    assert lab.networks == (Network("blue", "10.50.0.0/16", 50, 24, False),)
    assert lab.on("b") == [Container("c", "b", "blue", ("sleep", "60"))]
    assert lab.on("a")[0].command == ("python3", "-m", "http.server", "80")
    assert lab.as_dict()["hosts"] == {"a": {"kind": "netns"}, "b": {"kind": "netns"}}


def test_vm_hosts_default_to_etcd_and_an_encrypted_network():
    lab = parse("hosts: {v1: {kind: vm}, v2: {}}\nnetworks: {sec: {subnet: 10.7.0.0/16, vni: 7, encrypt: true}}\n")
    assert lab.kind == "vm" and [h.kind for h in lab.hosts] == ["vm", "vm"]
    assert lab.store.kind == "etcd" and lab.networks[0].encrypt


def test_the_quick_form_is_a_topology():
    lab = quick(3, "etcd", 3, True)
    assert [h.name for h in lab.hosts] == ["h1", "h2", "h3"]
    assert [(c.name, c.host, c.network) for c in lab.containers] == [("c1", "h1", "lab"), ("c2", "h2", "lab"),
                                                                      ("c3", "h3", "lab")]
    assert lab.networks[0].vni == 4213 and lab.store.members == 3 and lab.store.tls
    with pytest.raises(LabError, match="--hosts must be from 1 to 50"):
        quick(0)


HOSTS = "hosts:\n  h1: {}\n  h2: {}\n"
NETS = "networks:\n  blue: {subnet: 10.50.0.0/16, vni: 50}\n"


@pytest.mark.parametrize("text,message", [
    ("hosts:\n  h1: {}\n  h2: {kind: lxc}\n" + NETS, "lab.yaml:3: hosts.h2.kind: unknown kind 'lxc' (netns or vm)"),
    (HOSTS + NETS + "colour: blue\n", "lab.yaml:6: colour: unknown key (known: name, store, hosts, networks, "
     "containers)"),
    (HOSTS + "networks:\n  blue: {subnet: 10.50.0.0/16, vni: 50, mtu: 1400}\n",
     "lab.yaml:5: networks.blue.mtu: unknown key (known: subnet, vni, subnet_len, encrypt)"),
    ("hosts:\n  h1: {}\n  h1: {}\n" + NETS, "lab.yaml:3: hosts.h1: duplicate key (first on line 2)"),
    (HOSTS + NETS + NETS, "lab.yaml:6: networks: duplicate key (first on line 4)"),
    (HOSTS + "networks:\n  blue: {subnet: 10.50.0.1/16, vni: 50}\n",
     "lab.yaml:5: networks.blue.subnet: '10.50.0.1/16' is not an IPv4 network: 10.50.0.1/16 has host bits set"),
    (HOSTS + "networks:\n  blue: {subnet: 10.500.0.0/16, vni: 50}\n",
     "lab.yaml:5: networks.blue.subnet: '10.500.0.0/16' is not an IPv4 network"),
    (HOSTS + "networks:\n  blue: {subnet: 192.168.0.0/16, vni: 50}\n",
     "lab.yaml:5: networks.blue.subnet: 192.168.0.0/16 overlaps the lab's underlay 192.168.213.0/24"),
    (HOSTS + NETS + "  red: {subnet: 10.60.0.0/16, vni: 50}\n",
     "lab.yaml:6: networks.red.vni: 50 is network blue's already"),
    (HOSTS + NETS + "  red:\n    subnet: 10.50.128.0/17\n    vni: 60\n",
     "lab.yaml:7: networks.red.subnet: 10.50.128.0/17 overlaps network blue's 10.50.0.0/16"),
    (HOSTS + "networks:\n  blue: {subnet: 10.50.0.0/16, vni: 16777216}\n",
     "lab.yaml:5: networks.blue.vni: '16777216' is not a whole number from 1 to 16777215"),
    (HOSTS + "networks:\n  blue: {subnet: 10.50.0.0/16}\n", "lab.yaml:5: networks.blue.vni: missing"),
    (HOSTS + "networks:\n  blue: {subnet: 10.50.0.0/16, vni: 5, encrypt: maybe}\n",
     "lab.yaml:5: networks.blue.encrypt: 'maybe' is not true or false"),
    (HOSTS + "networks:\n  blue: {subnet: 10.50.0.0/24, vni: 5}\n",
     "lab.yaml:5: networks.blue.subnet: 10.50.0.0/24 is too small for hosts' /24 subnets (set subnet_len)"),
    (HOSTS + NETS + "containers:\n  web: {host: h9, network: blue}\n",
     "lab.yaml:7: containers.web.host: unknown host 'h9' (h1, h2)"),
    (HOSTS + NETS + "containers:\n  web: {host: h1, network: green}\n",
     "lab.yaml:7: containers.web.network: unknown network 'green' (blue)"),
    (HOSTS + NETS + "containers:\n  web:\n    host: h1\n    network: [blue]\n",
     "lab.yaml:9: containers.web.network: one network per container (pynet run attaches one)"),
    (HOSTS + NETS + "containers:\n  web: {network: blue}\n", "lab.yaml:7: containers.web.host: missing"),
    (HOSTS + NETS + "containers:\n  h1: {host: h1, network: blue}\n",
     "lab.yaml:7: containers.h1: 'h1' is a host's name in the lab"),
    (HOSTS + NETS + "containers:\n  Web: {host: h1, network: blue}\n",
     "lab.yaml:7: containers.Web: 'Web': a container name is a lowercase letter"),
    (HOSTS + NETS + "containers:\n  web: {host: h1, network: blue, publish: [80]}\n",
     "lab.yaml:7: containers.web.publish[0]: '80' is not [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]"),
    (HOSTS + NETS + "containers:\n  web: {host: h1, network: blue, publish: ['70000:80']}\n",
     "lab.yaml:7: containers.web.publish[0]: '70000:80': port 70000 is not from 1 to 65535"),
    (HOSTS + NETS + "containers:\n  web: {host: h1, network: blue, publish: ['10.1.1.300:80:80']}\n",
     "lab.yaml:7: containers.web.publish[0]: '10.1.1.300:80:80': '10.1.1.300' is not an IPv4 address"),
    (HOSTS + NETS + "containers:\n  a: {host: h1, network: blue, publish: 22:22}\n"
     "  b: {host: h1, network: blue, publish: ['22:23']}\n",
     "lab.yaml:8: containers.b.publish[0]: port 22/tcp of host h1 is published by a already"),
    (HOSTS + NETS + "containers:\n  web: {host: h1, network: blue, command: []}\n",
     "lab.yaml:7: containers.web.command: expected a non-empty list"),
    ("hosts:\n  h1: {kind: netns}\n  h2: {kind: vm}\n" + NETS,
     "lab.yaml:3: hosts.h2.kind: vm, but h1 is netns: a lab's hosts are all namespaces or all VMs"),
    ("hosts:\n  h1: {kind: vm}\n" + NETS, "lab.yaml:2: hosts: a lab of VMs needs at least 2 hosts"),
    ("store: {kind: file}\nhosts:\n  h1: {kind: vm}\n  h2: {}\n" + NETS,
     "lab.yaml:1: store.kind: a lab of VMs keeps its leases in etcd"),
    ("store: {kind: file, tls: true}\n" + HOSTS + NETS, "lab.yaml:1: store.tls: for kind: etcd"),
    ("store: {kind: etcd, members: 9}\n" + HOSTS + NETS,
     "lab.yaml:1: store.members: '9' is not a whole number from 1 to 7"),
    ("store: {kind: consul}\n" + HOSTS + NETS, "lab.yaml:1: store.kind: unknown store 'consul' (file or etcd)"),
    ("hosts:\n  host-one: {}\n" + NETS, "lab.yaml:2: hosts.host-one: 'host-one': a host name is"),
    ("hosts:\n  u: {}\n" + NETS, "lab.yaml:2: hosts.u: 'u' is the underlay's name"),
    ("hosts: []\n" + NETS, "lab.yaml:1: hosts: expected a mapping (name: value)"),
    ("hosts: {}\n" + NETS, "lab.yaml:1: hosts: a lab needs at least one host"),
    (NETS, "lab.yaml:1: hosts: missing"),
    (HOSTS + NETS + "containers:\n  web: {host: h1, network: blue\n", "lab.yaml:8: not YAML: expected ',' or '}'"),
    ("", "lab.yaml: empty"),
])
def test_a_bad_file_is_refused_with_its_line_and_key(text, message):
    with pytest.raises(TopologyError) as refused:
        parse(text)
    assert str(refused.value).startswith(message)


def test_the_file_name_is_in_the_message():
    with pytest.raises(TopologyError, match=r"^/tmp/x\.yaml:1: "):
        parse("hosts: 3\n", "/tmp/x.yaml")
