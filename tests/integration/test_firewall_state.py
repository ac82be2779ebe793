"""A network leaves the firewall as it found it: after its last attachment goes (DEL, DEL after the
container's namespace is gone, GC), the host's whole ruleset is as before the network's first ADD,
with either driver, on an empty host (pynet's table and chains gone too) and on a busy one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from cni.libcni import CNIConfig, NetworkConfig, RuntimeConf
from tests.integration.firewall_host import close_forwarding, ruleset
from tests.integration.overlay_lab import address_of as overlay_address, attach, overlay_conf, underlay  # noqa: F401
from tests.integration.overlay_lab import cni as overlay_cni
from tests.netns import install_plugins, plugin_path, run_plugin, wait_until

pytestmark = pytest.mark.root


def network(lab, backend: str, name: str, subnet: str, bridge: str) -> NetworkConfig:
    """bridge (masquerade, isolation, and icc: false where the driver has it) + portmap + firewall."""
    extra = {"icc": False} if backend == "nftables" else {}
    return NetworkConfig.from_dict({"cniVersion": "1.1.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True, "isolation": True,
         "firewallBackend": backend, "ipam": {"type": "host-local", "dataDir": lab["data"],
                                               "ranges": [[{"subnet": subnet}]]}, **extra},
        {"type": "portmap", "capabilities": {"portMappings": True}, "firewallBackend": backend},
        {"type": "firewall", "backend": backend}]})


@pytest.fixture
def fw_lab(lab, tmp_path, make_netns):
    """`lab` on a host whose forward path is closed (so the firewall plugin adds rules too), a
    CNIConfig running the plugins in the host, and a factory of attachments in new namespaces."""
    close_forwarding(lab["host"], "iptables-drop")
    cni = CNIConfig(path=[lab["cni_path"]], cache_dir=str(tmp_path / "cache"), host_netns=lab["host"].path,
                    env={"PYNET_STATE_DIR": str(tmp_path / "state")})
    made = iter(range(1000))

    def attachment(port: int = 0) -> RuntimeConf:
        ns = make_netns("k")
        return RuntimeConf(f"id-{next(made)}-{ns.name}", ns.path, "eth0", capability_args={
            "portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}] if port else []})
    return {**lab, "cni": cni, "attachment": attachment}


def owners(host, backend: str, network: str) -> list[str]:
    """The attachments of `network` the driver holds state for (what a plugin's GC compares with
    the valid ones), asked in the host."""
    code = ("import json; from cni.firewall import driver; "
            f"print(json.dumps(sorted(driver({backend!r}).owners({network!r}))))")
    return json.loads(host.run(sys.executable, "-c", code).stdout)


def address(result: dict) -> str:
    return result["ips"][0]["address"].split("/")[0]


@pytest.mark.parametrize("host_state", ["empty", "busy"])
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_the_last_attachment_takes_the_networks_firewall_state_with_it(backend, host_state, fw_lab):
    cni, host, attachment = fw_lab["cni"], fw_lab["host"], fw_lab["attachment"]
    if host_state == "busy":  # another isolated pynet network with a container stays throughout
        cni.add(network(fw_lab, backend, "othernet", "10.94.0.0/24", fw_lab["bridge"] + "o"), attachment(9090))
    before = ruleset(host)
    net = network(fw_lab, backend, "statenet", "10.93.0.0/24", fw_lab["bridge"])
    c1, c2, c3, c4 = (attachment(8081 + n) for n in range(4))
    results = {c.container_id: cni.add(net, c) for c in (c1, c2, c3, c4)}
    assert owners(host, backend, "statenet") == sorted(f"statenet/{c.container_id}/eth0" for c in (c1, c2, c3, c4))

    cni.delete(net, c1)
    subprocess.run(["ip", "netns", "delete", os.path.basename(c2.netns)], check=True)
    cni.delete(net, c2)  # its namespace is gone
    cni.gc(net, valid=[(c4.container_id, c4.ifname)])  # c3 is stale
    state = ruleset(host)
    assert address(results[c4.container_id]) in state and "8084" in state  # the live one keeps its state
    assert address(results[c3.container_id]) not in state and "8083" not in state
    assert "10.93.0.0/24" in state  # nets4 (iptables: the live container's RETURN for its subnet)
    assert fw_lab["bridge"] in state  # the isolation, while the network has an attachment

    cni.delete(net, c4)
    wait_until(lambda: not [n for n in host.links() if n.startswith("pnv") and host.links()[n].get("master")
                            == fw_lab["bridge"]], "the veths to go")
    assert ruleset(host) == before and owners(host, backend, "statenet") == []
    if host_state == "empty":
        assert "pynet" not in host.run("nft", "list", "tables").stdout
        assert "PYNET" not in host.run("iptables-save").stdout + host.run("ip6tables-save").stdout


def nets_and_masquerade(host, backend: str, bridge: str, addresses: list[str]) -> list[str]:
    """What the network (10.93.0.0/24, isolated on `bridge`) or these live containers lack."""
    if backend == "nftables":
        listing = host.run("nft", "list", "table", "inet", "pynet").stdout
        wanted = ["10.93.0.0/24", *addresses]
    else:
        listing = host.run("iptables-save").stdout
        wanted = [f"-s {a}/32 ! -d 224.0.0.0/4" for a in addresses]
    return [w for w in [*wanted, bridge] if w not in listing]


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_two_adds_and_a_del_of_one_network_at_once_never_strip_a_live_container(backend, fw_lab):
    """Each round: ADD two containers while the network's only other one is deleted, all at once;
    the two keep the network's elements and their own. The last DEL leaves the host as before."""
    cni, host, attachment = fw_lab["cni"], fw_lab["host"], fw_lab["attachment"]
    before = ruleset(host)
    net = network(fw_lab, backend, "statenet", "10.93.0.0/24", fw_lab["bridge"])
    alone = attachment()
    cni.add(net, alone)
    for _ in range(6):
        first, second = attachment(), attachment()
        results, errors = {}, []

        def run(action, rt):
            try:
                results[rt.container_id] = action(net, rt)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
        threads = [threading.Thread(target=run, args=step)
                   for step in ((cni.add, first), (cni.add, second), (cni.delete, alone))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        live = [address(results[first.container_id]), address(results[second.container_id])]
        assert nets_and_masquerade(host, backend, fw_lab["bridge"], live) == []
        cni.delete(net, second)
        alone = first
    cni.delete(net, alone)
    assert ruleset(host) == before


def test_the_iptables_driver_leaves_no_file(lab):
    """Its lock was /run/pynet/iptables.lock, left after the last DEL; now nothing is written there
    (a fresh tmpfs over /run/pynet shows it)."""
    config = {"cniVersion": "1.0.0", "name": "lockless", "type": "bridge", "bridge": lab["bridge"],
              "ipMasq": True, "firewallBackend": "iptables",
              "ipam": {"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": "10.95.0.0/24"}]]}}
    calls = [{"CNI_COMMAND": command, "CNI_CONTAINERID": "id-c1", "CNI_NETNS": lab["c1"].path, "CNI_IFNAME": "eth0",
              "CNI_PATH": lab["cni_path"], "PYNET_AGENT": "off", "PATH": os.environ["PATH"]}
             for command in ("ADD", "DEL")]
    script = ("import json, os, subprocess, sys\n"
              "subprocess.run(['mount', '-t', 'tmpfs', 'pynet-run', '/run/pynet'], check=True)\n"
              "for env in json.loads(sys.argv[2]):\n"
              "    done = subprocess.run([sys.argv[1]], input=sys.argv[3].encode(), env=env, capture_output=True)\n"
              "    assert done.returncode == 0, done.stdout\n"
              "print(json.dumps(os.listdir('/run/pynet')))\n")
    os.makedirs("/run/pynet", exist_ok=True)
    done = subprocess.run(["ip", "netns", "exec", lab["host"].name, "unshare", "-m", "--propagation", "private",
                           sys.executable, "-c", script, plugin_path("bridge"), json.dumps(calls), json.dumps(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert "PYNET" not in lab["host"].run("iptables-save").stdout


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_an_overlays_last_attachment_takes_its_firewall_state_with_it(backend, underlay, make_netns, tmp_path):
    """Two isolated, masqueraded overlays on a host (their subnets, bridges and VXLAN devices are
    elements of their own): DEL, DEL after the namespace went, and the overlay's GC leave the ruleset
    as before the first ADD."""
    host = underlay.add_host()
    store = {"type": "file", "path": str(tmp_path / "store.json")}
    extra = {"isolation": True, "ipMasq": True, "firewallBackend": backend}
    ov1 = overlay_conf(store, **extra)
    ov2 = overlay_conf(store, name="ov2", vni=77, network="10.245.0.0/16", **extra)
    before = ruleset(host.ns)
    for config in (ov1, ov1, ov2):
        attach(host, make_netns, config)
    (c1, r1), (c2, r2), (c3, r3) = host.containers.values()
    assert "10.245.0.0/16" in ruleset(host.ns)

    assert overlay_cni(host, c1, "DEL", {**ov1, "prevResult": r1}).ok
    assert overlay_address(r2) in ruleset(host.ns)  # ov1 still has c2
    c2.delete()
    assert overlay_cni(host, c2, "DEL", {**ov1, "prevResult": r2}).ok  # its namespace is gone
    assert "pno4242" not in ruleset(host.ns) and "pnx77" in ruleset(host.ns)
    gc = overlay_cni(host, c3, "GC", {**ov2, "cni.dev/valid-attachments": []},
                     cni_path=install_plugins(tmp_path / "bin"))
    assert gc.ok, gc.stdout
    assert ruleset(host.ns) == before


def test_gc_finds_the_attachments_of_a_network_with_a_long_name(lab):
    """Owner tags carry a network's label (its name, or for one over 40 characters a prefix and a
    digest): GC recognises the attachment's veth by it, and nothing of the network is left."""
    name = "a-network-whose-name-is-longer-than-forty-characters"
    config = {"cniVersion": "1.1.0", "name": name, "type": "bridge", "bridge": lab["bridge"], "ipMasq": True,
              "isolation": True, "ipam": {"type": "host-local", "dataDir": lab["data"],
                                          "ranges": [[{"subnet": "10.96.0.0/24"}]]}}
    before = ruleset(lab["host"])
    added = run_plugin(plugin_path("bridge"), "ADD", config, netns=lab["c1"].path, container_id="id-c1",
                       cni_path=lab["cni_path"], host=lab["host"].name)
    assert added.ok, added.stdout
    veth = added.json["interfaces"][1]["name"]
    collected = run_plugin(plugin_path("bridge"), "GC", {**config, "cni.dev/valid-attachments": []}, container_id="",
                           ifname="", cni_path=lab["cni_path"], host=lab["host"].name)
    assert collected.ok, collected.stdout
    assert veth not in lab["host"].links() and "eth0" not in lab["c1"].links()
    assert ruleset(lab["host"]) == before
