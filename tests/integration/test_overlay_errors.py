"""pynet-overlay's failures: bad input, an unreachable store, injected faults at every ADD step —
each a clear CNI error that leaves the host and the store as they were; CHECK, DEL and leaving."""

from __future__ import annotations

import json
import os

import pytest

from tests.integration.overlay_lab import (members, attach, cni, overlay_conf, routes, store,  # noqa: F401
                                           underlay, wait_for)

pytestmark = pytest.mark.root


def records_in(store: dict, underlay, kind: str = "leases") -> list[str]:
    """The keys of one kind ("leases", "networks") the store holds (read from the test, as the hosts
    see it)."""
    if store["type"] == "file":
        try:
            with open(store["path"]) as f:
                return [k for k in json.load(f)["records"] if f"/{kind}/" in k]
        except FileNotFoundError:
            return []
    from cni.kernel.netns import entered
    from cni.plugins.overlay.etcd import EtcdStore

    with entered(underlay.ns.path):
        return [k for k in EtcdStore(store["endpoints"]).list(f"/pynet/overlay/{kind}/")]


def leases_in(store: dict, underlay) -> list[str]:
    return records_in(store, underlay)


def error_of(run) -> dict:
    assert run.returncode == 1, run.stdout + run.stderr
    error = json.loads(run.stdout)
    assert "Traceback" not in run.stderr
    return error


BAD = [
    ({"vni": 0}, 7, "vni"),
    ({"vni": 2**24}, 7, "16777215"),
    ({"vni": "42"}, 7, "vni"),
    ({"network": "10.244.0.1/16"}, 7, "network"),
    ({"underlay": "nope0"}, 7, "nope0 does not exist"),
    ({"underlay": "203.0.113.9"}, 7, "not an address of this host"),
    ({"underlay": ""}, 7, "underlay"),
    ({"subnetLen": 8}, 7, "subnetLen"),
    ({"mtu": 1451}, 7, "at most 1450"),
    ({"store": {"type": "consul"}}, 7, "store.type"),
    ({"store": {"type": "etcd", "endpoints": ["127.0.0.1:2379"]}}, 7, "endpoints"),
    ({"store": {"type": "etcd", "endpoints": ["http://10.0.0.1:2379"], "cacert": "/ca.pem"}}, 7, "https://"),
    ({"store": {"type": "etcd", "endpoints": ["https://10.0.0.1:2379"], "cert": "/c.pem"}}, 7, "needs its key"),
    ({"store": {"type": "etcd", "endpoints": ["https://10.0.0.1:2379"], "cacert": "ca.pem"}}, 7, "absolute path"),
    ({"store": {"type": "etcd", "endpoints": ["https://10.0.0.1:2379"], "cacert": "/nonexistent/ca.pem"}}, 7,
     "TLS files"),
    ({"ipam": {"type": "host-local"}}, 2, "ipam"),
    # this machine's kernel has no WireGuard (the VM lab's has: tests/vm/test_lab_encrypted.py)
    ({"encrypt": True}, 101, "module wireguard"),
]


@pytest.mark.parametrize("change,code,words", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_config_is_a_clear_error_and_changes_nothing(change, code, words, underlay, make_netns, tmp_path):
    host, container = underlay.add_host(), make_netns("c")
    config = {**overlay_conf({"type": "file", "path": str(tmp_path / "s.json")}), **change}
    before = host.ns.snapshot(switches=True)
    error = error_of(cni(host, container, "ADD", config))
    assert error["code"] == code and words in error["msg"] + error["details"], error
    assert host.ns.snapshot(switches=True) == before and "eth0" not in container.links()
    assert not (tmp_path / "s.json").exists()


def test_overlapping_networks_and_taken_vni_are_refused(store, underlay, make_netns):
    host = underlay.add_host()
    attach(host, make_netns, overlay_conf(store))
    other = overlay_conf(store, name="ov2", vni=7, network="10.244.128.0/17")
    error = error_of(cni(host, make_netns("c"), "ADD", other))
    assert error["code"] == 7 and "overlaps 10.244.0.0/16 of overlay 'ov1'" in error["details"]
    error = error_of(cni(host, make_netns("c"), "ADD", {**other, "vni": 4242, "network": "10.245.0.0/16"}))
    assert error["code"] == 7 and "vni 4242" in error["details"]
    assert len(leases_in(store, underlay)) == 1


def test_network_too_small_for_another_host(store, underlay, make_netns):
    config = overlay_conf(store, network="10.250.0.0/24", subnetLen=25)
    h1, h2, h3 = (underlay.add_host() for _ in range(3))
    attach(h1, make_netns, config)
    attach(h2, make_netns, config)
    before = h3.ns.snapshot(switches=True)
    error = error_of(cni(h3, make_netns("c"), "ADD", config))
    assert error["code"] == 103 and "no free /25 left in 10.250.0.0/24" in error["msg"], error
    assert "10.250.0.0/25 (192.168.77.1)" in error["details"]
    assert h3.ns.snapshot(switches=True) == before


def test_unreachable_etcd_is_try_again_later(underlay, make_netns):
    host, container = underlay.add_host(), make_netns("c")
    config = overlay_conf({"type": "etcd", "endpoints": [f"http://{underlay.address}:9"]})
    before = host.ns.snapshot(switches=True)
    error = error_of(cni(host, container, "ADD", config))
    assert error["code"] == 11 and "unreachable" in error["msg"]
    assert host.ns.snapshot(switches=True) == before and "eth0" not in container.links()


def test_every_failed_add_step_rolls_back(store, underlay, make_netns):
    config = overlay_conf(store)
    h1, h2 = underlay.add_host(), underlay.add_host()
    attach(h1, make_netns, config)  # a peer, so the sync step has work to do
    container = make_netns("c")
    before = h2.ns.snapshot(switches=True)
    for step in range(1, 30):
        run = cni(h2, container, "ADD", config, env={"PYNET_FAIL_AT": str(step), "PYNET_AGENT": "off"})
        if run.ok:
            break
        assert "injected fault" in error_of(run)["msg"]
        assert h2.ns.snapshot(switches=True) == before, f"step {step} left something"
        assert "eth0" not in container.links()
        assert len(leases_in(store, underlay)) == 1, f"step {step} left a lease"
    else:
        pytest.fail("ADD never succeeded")
    assert step > 5  # lease, device, bridge, veth, IPAM, gateway at least
    assert len(leases_in(store, underlay)) == 2


def test_a_failed_first_add_leaves_no_network_record(store, underlay, make_netns):
    """The first ADD of an overlay registers the network in the store; when that ADD fails, at any
    step, the store is as before: no lease, no network record."""
    config = overlay_conf(store)
    host, container = underlay.add_host(), make_netns("c")
    before = host.ns.snapshot()
    for step in range(1, 30):
        run = cni(host, container, "ADD", config, env={"PYNET_FAIL_AT": str(step), "PYNET_AGENT": "off"})
        if run.ok:
            break
        assert "injected fault" in error_of(run)["msg"]
        assert records_in(store, underlay, "networks") == [], f"step {step} left the network record"
        assert records_in(store, underlay) == [], f"step {step} left a lease"
        assert host.ns.snapshot() == before, f"step {step} left something"
    else:
        pytest.fail("ADD never succeeded")
    assert step > 6 and records_in(store, underlay, "networks") == ["/pynet/overlay/networks/ov1"]


def test_check_then_del_twice_and_the_last_container_leaves(store, underlay, make_netns, members):
    config = overlay_conf(store)
    h1, h2 = underlay.add_host(), underlay.add_host()
    r1 = attach(h1, make_netns, config)
    r2 = attach(h2, make_netns, config)
    members.start(h1)
    assert wait_for(lambda: routes(h1) == ["10.244.1.0/24"], 5) is not None
    (c1, _), = h1.containers.values()
    (c2, _), = h2.containers.values()
    for host, container, result in ((h1, c1, r1), (h2, c2, r2)):
        checked = cni(host, container, "CHECK", {**config, "prevResult": result})
        assert checked.ok, checked.stdout
    members.kill(h1)
    h1.ns.run("ip", "neigh", "del", "10.244.1.0", "dev", "pnx4242")
    error = error_of(cni(h1, c1, "CHECK", {**config, "prevResult": r1}))
    assert error["code"] == 105 and "no neighbour 10.244.1.0" in error["details"]
    members.start(h1)
    assert wait_for(lambda: cni(h1, c1, "CHECK", {**config, "prevResult": r1}).ok, 5) is not None  # repaired
    # h2's last container goes: h2 leaves (device, bridge, lease), h1's member daemon drops its entries
    for _ in range(2):
        deleted = cni(h2, c2, "DEL", {**config, "prevResult": r2})
        assert deleted.ok and deleted.stdout == "", deleted.stdout
    assert not {"pnx4242", "pno4242", "eth0"} & (set(h2.ns.links()) | set(c2.links()))
    assert len(leases_in(store, underlay)) == 1
    assert wait_for(lambda: routes(h1) == [], 5) is not None
    assert h1.ns.run("ip", "neigh", "show", "dev", "pnx4242").stdout.strip() == ""
    # and joins again
    attach(h2, make_netns, config)
    assert wait_for(lambda: routes(h1) == ["10.244.1.0/24"], 5) is not None


def test_gc_frees_stale_addresses_and_status_follows_the_store(underlay, make_netns):
    from tests.integration.overlay_lab import Etcd

    etcd = Etcd(underlay.ns, underlay.address)
    try:
        config = overlay_conf({"type": "etcd", "endpoints": [etcd.url]})
        host = underlay.add_host()
        attach(host, make_netns, config)
        attach(host, make_netns, config)
        (keep, _), (gone, _) = host.containers.values()
        state = os.path.join(host.state_dir, "overlay", "ov1", "ipam", "ov1")
        assert len([f for f in os.listdir(state) if f.startswith("10.")]) == 2
        valid = [{"containerID": keep.name, "ifname": "eth0"}]
        collected = cni(host, keep, "GC", {**config, "cni.dev/valid-attachments": valid}, cni_path="/usr/lib/cni")
        assert collected.ok, collected.stdout
        assert len([f for f in os.listdir(state) if f.startswith("10.")]) == 1
        assert cni(host, keep, "STATUS", config).ok
        etcd.stop()
        error = error_of(cni(host, keep, "STATUS", config))
        assert error["code"] == 50 and "does not answer" in error["msg"]
        # nothing valid any more: the host leaves (its lease is left to expire, the store being down)
        assert cni(host, keep, "GC", {**config, "cni.dev/valid-attachments": []}, cni_path="/usr/lib/cni").ok
        assert not {"pnx4242", "pno4242"} & set(host.ns.links())
    finally:
        etcd.stop()


def test_hosts_joining_at_once_get_distinct_subnets(store, underlay, make_netns):
    """Compare-and-set: four hosts' first ADDs race for the first free subnet."""
    from concurrent.futures import ThreadPoolExecutor

    config = overlay_conf(store)
    hosts = [underlay.add_host() for _ in range(4)]
    containers = [make_netns("c") for _ in hosts]
    with ThreadPoolExecutor(len(hosts)) as pool:
        runs = list(pool.map(lambda hc: cni(hc[0], hc[1], "ADD", config), zip(hosts, containers)))
    assert all(run.ok for run in runs), [run.stdout for run in runs if not run.ok]
    subnets = {run.json["ips"][0]["address"].rsplit(".", 1)[0] for run in runs}
    assert subnets == {"10.244.0", "10.244.1", "10.244.2", "10.244.3"}
    assert len(leases_in(store, underlay)) == 4


def test_pynet_overlay_status_and_leave(store, underlay, make_netns):
    import subprocess

    from tests.integration.overlay_lab import PYNET

    config = overlay_conf(store)
    h1, h2 = underlay.add_host(), underlay.add_host()
    attach(h1, make_netns, config)
    attach(h2, make_netns, config)

    def pynet(host, *argv):
        return subprocess.run(["ip", "netns", "exec", host.ns.name, PYNET, *argv], capture_output=True, text=True,
                              env={"PATH": os.environ["PATH"], **host.env})

    status = json.loads(pynet(h1, "--format", "json", "overlay", "status", "--network", "ov1").stdout)
    assert [(r["subnet"], r["underlay"], r["this"]) for r in status] == [
        ("10.244.0.0/24", h1.address, "*"), ("10.244.1.0/24", h2.address, "")]
    refused = pynet(h2, "overlay", "leave", "--network", "ov1")
    assert refused.returncode == 1 and "1 container(s) still attached" in refused.stderr
    assert pynet(h2, "overlay", "leave", "--network", "ov1", "--force").returncode == 0
    assert not {"pnx4242", "pno4242"} & set(h2.ns.links())
    assert len(leases_in(store, underlay)) == 1
    gone = pynet(h2, "overlay", "status", "--network", "ov1")
    assert gone.returncode == 1 and "has not joined overlay 'ov1'" in gone.stderr


def reserved(host) -> list[str]:
    directory = os.path.join(host.state_dir, "overlay", "ov1", "ipam", "ov1")
    return sorted(f for f in os.listdir(directory) if f.startswith("10.")) if os.path.isdir(directory) else []


def test_del_runs_every_step_when_the_firewall_refuses(underlay, make_netns, tmp_path):
    from tests.integration.held_table import table_held_by_another_process

    config = overlay_conf({"type": "file", "path": str(tmp_path / "s.json")}, ipMasq=True)
    host = underlay.add_host()
    keep, gone = attach(host, make_netns, config), attach(host, make_netns, config)
    (c_keep, _), (c_gone, _) = host.containers.values()
    with table_held_by_another_process(host.ns):
        deleted = cni(host, c_gone, "DEL", config)
        error = error_of(deleted)
        assert error["code"] == 101 and "nftables transaction failed" in error["msg"], error
        assert "Operation not permitted" in error["details"]
    assert reserved(host) == [keep["ips"][0]["address"].split("/")[0]]
    assert "eth0" not in c_gone.links() and len([n for n in host.ns.links() if n.startswith("pnv")]) == 1
    assert gone["ips"][0]["address"] != keep["ips"][0]["address"]


def test_gc_removes_every_resource_of_an_attachment_not_in_the_valid_list(underlay, make_netns, tmp_path):
    """keep stays; forgotten (its namespace alive) loses its host veth; gone (its namespace deleted)
    leaves a reservation and masquerade elements: GC removes both attachments' every resource."""
    config = overlay_conf({"type": "file", "path": str(tmp_path / "s.json")}, ipMasq=True)
    host = underlay.add_host()
    results = [attach(host, make_netns, config) for _ in range(3)]
    (keep, _), (forgotten, _), (gone, _) = host.containers.values()
    addresses = [r["ips"][0]["address"].split("/")[0] for r in results]
    gone.delete()
    valid = [{"containerID": keep.name, "ifname": "eth0"}]
    # (GC needs a CNI_PATH; the overlay's address plan is its own: pynet's host-local serves it)
    collected = cni(host, keep, "GC", {**config, "cni.dev/valid-attachments": valid}, cni_path=str(tmp_path))
    assert collected.ok, collected.stdout
    assert reserved(host) == [addresses[0]]
    assert "eth0" not in forgotten.links() and len([n for n in host.ns.links() if n.startswith("pnv")]) == 1
    masquerade = host.ns.run("nft", "list", "set", "inet", "pynet", "masq4").stdout
    assert addresses[0] in masquerade and addresses[1] not in masquerade and addresses[2] not in masquerade
    assert cni(host, keep, "GC", {**config, "cni.dev/valid-attachments": []}, cni_path=str(tmp_path)).ok  # leaves
    assert not {"pnx4242", "pno4242"} & set(host.ns.links()) and addresses[0] not in host.ns.run("nft", "list",
                                                                                                  "ruleset").stdout
