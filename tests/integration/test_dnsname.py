"""pynet-dnsname chained after pynet-bridge, as Podman's CNI backend chains the reference dnsname:
containers find each other by name, name.domain and alias through the host's DNS server on the
gateway; DEL and GC take the names away; CHECK sees a missing record; bad input is a CNI error."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import sys
import time

import pytest

from cni.dns import message as m
from cni.kernel.netns import entered
from cni.plugins.dnsname.gateways import local
from tests.netns import dns_servers, install_plugins, plugin_path, run_plugin, wait_until

pytestmark = pytest.mark.root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATEWAY = "10.232.0.1"


@pytest.fixture
def lab(make_netns, tmp_path, token):
    host, c1, c2 = make_netns("h"), make_netns("a"), make_netns("b")
    env = {"PYNET_STATE_DIR": str(tmp_path / "state"), "PYNET_DNS_RESOLV_CONF": str(tmp_path / "resolv.conf")}
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.53\n")  # an upstream that never answers
    etc = []
    lab = {"host": host, "c1": c1, "c2": c2, "env": env, "etc": etc, "tmp": tmp_path,
           "cni_path": install_plugins(tmp_path / "bin"),
           "bridge": {"cniVersion": "1.0.0", "name": "dnsnet", "type": "bridge", "bridge": f"pnd{token}",
                      "isGateway": True, "ipam": {"type": "host-local", "dataDir": str(tmp_path / "ipam"),
                                                  "ranges": [[{"subnet": "10.232.0.0/24"}]]}}}
    yield lab
    for directory in etc:
        shutil.rmtree(directory, ignore_errors=True)


def conf(lab, prev=None, **extra) -> dict:
    config = {"cniVersion": "1.0.0", "name": "dnsnet", "type": "dnsname", "domainName": "dns.podman",
              "capabilities": {"aliases": True}, **extra}
    return {**config, "prevResult": prev} if prev is not None else config


def cni(lab, plugin: str, command: str, config, container: str, args: str = ""):
    return run_plugin(plugin_path(plugin), command, config, netns=lab[container].path, container_id=f"id-{container}",
                      args=args, cni_path=lab["cni_path"], host=lab["host"].name, env=lab["env"])


def attach(lab, container: str, name: str, aliases=()) -> dict:
    """bridge then dnsname, as libcni runs the chain; dnsname's result."""
    bridged = cni(lab, "bridge", "ADD", lab["bridge"], container)
    assert bridged.ok, bridged.stdout
    config = conf(lab, bridged.json, runtimeConfig={"aliases": {"dnsnet": list(aliases)}})
    added = cni(lab, "dnsname", "ADD", config, container, f"IgnoreUnknown=1;K8S_POD_NAME={name}")
    assert added.ok, added.stdout
    return added.json


def detach(lab, container: str, result: dict) -> None:
    for plugin, config in (("dnsname", conf(lab, result)), ("bridge", {**lab["bridge"], "prevResult": result})):
        assert cni(lab, plugin, "DEL", config, container).ok


def resolver(lab, container: str, result: dict) -> None:
    """The container's /etc/resolv.conf from the result (ip netns exec binds /etc/netns/NAME/)."""
    etc = f"/etc/netns/{lab[container].name}"
    lab["etc"].append(etc)
    os.makedirs(etc)
    dns = result["dns"]
    with open(f"{etc}/resolv.conf", "w") as f:
        f.write("".join(f"nameserver {n}\n" for n in dns["nameservers"]) + f"search {' '.join(dns['search'])}\n"
                "options timeout:1 attempts:2\n")


def ask(ns, name: str, qtype: int = m.A) -> list:
    done = ns.run(sys.executable, "-m", "tests.integration.dns_client", json.dumps([[GATEWAY, name, qtype]]), cwd=ROOT)
    return json.loads(done.stdout)[0]


def test_containers_resolve_each_other_by_name_domain_and_alias(lab):
    web = attach(lab, "c1", "web")
    client = attach(lab, "c2", "client", aliases=["cli"])
    assert web["dns"] == {"nameservers": [GATEWAY], "search": ["dns.podman"]}
    web_ip, client_ip = web["ips"][0]["address"].split("/")[0], client["ips"][0]["address"].split("/")[0]
    resolver(lab, "c2", client)
    resolver(lab, "c1", web)
    assert lab["c2"].run("getent", "hosts", "web").stdout.split() == [web_ip, "web.dns.podman"]
    assert lab["c2"].run("getent", "hosts", "web.dns.podman").stdout.split()[0] == web_ip
    assert lab["c1"].run("getent", "hosts", "cli").stdout.split()[0] == client_ip
    assert lab["c1"].run("ping", "-c1", "-W2", "client").returncode == 0
    for container, result, name, aliases in (("c1", web, "web", []), ("c2", client, "client", ["cli"])):
        config = conf(lab, result, runtimeConfig={"aliases": {"dnsnet": aliases}})  # as libcni passes ADD's
        checked = cni(lab, "dnsname", "CHECK", config, container, f"IgnoreUnknown=1;K8S_POD_NAME={name}")
        assert checked.ok, checked.stdout
    unnamed = cni(lab, "dnsname", "CHECK", conf(lab, client), "c2")  # as the Go libcni's CHECK: no CNI_ARGS
    assert unnamed.ok, unnamed.stdout
    config = conf(lab, client, runtimeConfig={"aliases": {"dnsnet": ["other"]}})
    checked = cni(lab, "dnsname", "CHECK", config, "c2", "K8S_POD_NAME=client")
    assert checked.json["code"] == 105 and "differ" in checked.json["msg"]
    detach(lab, "c1", web)
    assert ask(lab["c2"], "web")[0] == m.NXDOMAIN  # gone at once (the records' file is read on change)
    assert cni(lab, "dnsname", "DEL", conf(lab, web), "c1").ok  # again: nothing to do
    detach(lab, "c2", client)
    wait_until(lambda: not dns_servers(lab["host"].path), "the server to leave")


def test_check_sees_a_missing_record_and_gc_drops_what_is_not_valid(lab):
    web = attach(lab, "c1", "web")
    client = attach(lab, "c2", "client")
    gc = {**conf(lab), "cniVersion": "1.1.0", "cni.dev/valid-attachments": [{"containerID": "id-c2", "ifname": "eth0"}]}
    assert cni(lab, "dnsname", "GC", gc, "c2").ok
    assert ask(lab["c2"], "web")[0] == m.NXDOMAIN and ask(lab["c1"], "client")[2] != []
    checked = cni(lab, "dnsname", "CHECK", conf(lab, web), "c1", "IgnoreUnknown=1;K8S_POD_NAME=web")
    assert not checked.ok and checked.json["code"] == 105 and "no DNS records" in checked.json["msg"]
    detach(lab, "c1", web)
    detach(lab, "c2", client)


@pytest.mark.parametrize("args, extra, code, words", [
    ("IgnoreUnknown=1;K8S_POD_NAME=no way", {}, 4, "K8S_POD_NAME"),
    ("K8S_POD_NAME=web", {"domainName": "bad domain"}, 7, "domainName"),
    ("K8S_POD_NAME=web", {"runtimeConfig": {"aliases": {"dnsnet": ["ok", "not ok"]}}}, 7, "alias"),
    ("K8S_POD_NAME=web", {"runtimeConfig": {"aliases": ["x"]}}, 7, "aliases"),
])
def test_bad_input_is_a_cni_error_and_registers_nothing(lab, args, extra, code, words):
    bridged = cni(lab, "bridge", "ADD", lab["bridge"], "c1")
    refused = cni(lab, "dnsname", "ADD", conf(lab, bridged.json, **extra), "c1", args)
    assert refused.returncode == 1 and refused.json["code"] == code and words in refused.json["msg"], refused.stdout
    assert not os.listdir(lab["tmp"] / "state" / "dns" / "records") if (lab["tmp"] / "state" / "dns").exists() else True
    assert cni(lab, "bridge", "DEL", {**lab["bridge"], "prevResult": bridged.json}, "c1").ok


@pytest.mark.parametrize("change, words", [
    ({"gateway": "10.232.0.9"}, "gateway 10.232.0.9 is not an address of this host"),
    ({"gateway": "10.77.0.1"}, "gateway 10.77.0.1 is not on the container's network"),
    ({"gateway": "0.0.0.0"}, "gateway 0.0.0.0 cannot carry the network's names"),
    ({"gateway": "224.0.0.251"}, "cannot carry"),
    ({"interface": 0}, "needs the container's addresses"),  # the bridge's, not the container's
])
def test_a_gateway_the_server_cannot_answer_on_is_refused_at_once(lab, change, words):
    """Not after ADD's probe has waited 10 s (and never a query sent off the host, or a wildcard bound)."""
    bridged = cni(lab, "bridge", "ADD", lab["bridge"], "c1")
    prev = {**bridged.json, "ips": [{**bridged.json["ips"][0], **change}]}
    start = time.monotonic()
    refused = cni(lab, "dnsname", "ADD", conf(lab, prev), "c1", "K8S_POD_NAME=web")
    assert time.monotonic() - start < 3 and refused.json["code"] == 7 and words in refused.json["msg"], refused.stdout
    assert not os.path.exists(lab["tmp"] / "state" / "dns" / "records") or not os.listdir(lab["tmp"] / "state" / "dns" / "records")
    assert cni(lab, "bridge", "DEL", {**lab["bridge"], "prevResult": bridged.json}, "c1").ok


def test_an_ipv6_gateway_still_in_dad_is_the_hosts(lab):
    """A tentative address is the host's (ADD's probe waits for it); an absent one is not."""
    host = lab["host"]
    host.run("ip", "link", "add", "dad0", "type", "veth", "peer", "name", "dad1")
    for link in ("dad1", "dad0"):
        host.run("ip", "link", "set", link, "up")
    host.run("ip", "addr", "add", "fd33::1/64", "dev", "dad0")  # DAD: tentative for a second or so
    with entered(host.path):
        found = [local(ipaddress.ip_address(a)) for a in ("fd33::1", "fd33::2", "10.33.0.1")]
    assert "tentative" in host.run("ip", "-6", "addr", "show", "dev", "dad0").stdout
    assert found == [True, False, False]


def test_without_prev_result_or_gateway_it_says_what_it_needs(lab):
    alone = cni(lab, "dnsname", "ADD", conf(lab), "c1", "K8S_POD_NAME=web")
    assert alone.json["code"] == 7 and "prevResult" in alone.json["msg"]
    no_gateway = {"cniVersion": "1.0.0", "ips": [{"address": "10.232.0.9/24"}]}
    refused = cni(lab, "dnsname", "ADD", conf(lab, no_gateway), "c1", "K8S_POD_NAME=web")
    assert refused.json["code"] == 7 and "gateway" in refused.json["msg"]
