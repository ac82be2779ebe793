"""pynet-overlay on simulated hosts (netns) joined by an underlay bridge: real VXLAN, real packets."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.integration.overlay_lab import (address_of, members, attach, cni, overlay_conf,  # noqa: F401
                                           ping, routes, store, underlay, wait_for)

pytestmark = pytest.mark.root


def test_two_hosts_each_add_syncs_remote_entries(store, underlay, make_netns):
    """Without members: h2's ADD learns h1; h1 learns h2 on its next ADD."""
    config = overlay_conf(store)
    h1, h2 = underlay.add_host(), underlay.add_host()
    r1 = attach(h1, make_netns, config, "a")
    r2 = attach(h2, make_netns, config, "b")
    assert r1["ips"][0]["address"] == "10.244.0.2/24" and r2["ips"][0]["address"] == "10.244.1.2/24"
    assert r1["interfaces"][2]["mtu"] == 1450  # underlay 1500 - 50
    (c1, _), = h1.containers.values()
    (c2, _), = h2.containers.values()
    assert ping(c2, address_of(r1)).returncode != 0  # h1 has no way back to h2 yet
    r3 = attach(h1, make_netns, config, "a")
    assert r3["ips"][0]["address"] == "10.244.0.3/24"
    assert ping(c2, address_of(r1)).returncode == 0
    assert ping(c1, address_of(r2)).returncode == 0


SERVE = "import socket;s=socket.create_server(('0.0.0.0',8080));c,a=s.accept();"
ECHO = SERVE + "c.sendall(c.recv(100).upper());c.close()"
WHO = SERVE + "c.recv(100);c.sendall(a[0].encode());c.close()"


def tcp_echo(server, client, address: str, code: str = ECHO) -> str:
    """A TCP round trip from `client` to a one-shot server in `server` on `address`:8080 (ECHO: the
    upper-cased message; WHO: the client address the server saw)."""
    proc = subprocess.Popen(["ip", "netns", "exec", server.name, "timeout", "10", "python3", "-c", code])
    try:
        talk = ("import socket,time\nfor _ in range(50):\n    try:\n"
                "        c=socket.create_connection(('%s',8080),2);break\n"
                "    except ConnectionRefusedError: time.sleep(0.1)\n"
                "c.sendall(b'hello');print(c.recv(100).decode())" % address)
        return client.run("python3", "-c", talk, check=False).stdout.strip()
    finally:
        proc.kill()
        proc.wait()


def test_three_hosts_with_member_daemons_ping_and_tcp(store, underlay, make_netns, members):
    config = overlay_conf(store)
    hosts = [underlay.add_host() for _ in range(3)]
    results = []
    for host in hosts:
        results.append(attach(host, make_netns, config))
        members.start(host)
    containers = [next(iter(h.containers.values()))[0] for h in hosts]
    # the members bring in what the early ADDs could not know
    assert wait_for(lambda: all(len(routes(h)) == 2 for h in hosts), 10) is not None
    for i, c in enumerate(containers):
        for j, r in enumerate(results):
            if i != j:
                assert ping(c, address_of(r)).returncode == 0, (i, j)
    assert tcp_echo(containers[0], containers[2], address_of(results[0])) == "HELLO"


def test_late_host_reachable_within_2s(store, underlay, make_netns, members):
    """With the daemons' default intervals (5 s with etcd): the store's watch wakes them."""
    config = overlay_conf(store)
    h1, h2 = underlay.add_host(), underlay.add_host()
    r1 = attach(h1, make_netns, config)
    members.start(h1, interval=None)
    members.start(h2, interval=None)
    time.sleep(0.5)  # the members are up and idle on h2 (not joined yet)
    c1 = next(iter(h1.containers.values()))[0]
    start = time.monotonic()
    r2 = attach(h2, make_netns, config)
    added = time.monotonic() - start
    reachable = wait_for(lambda: ping(c1, address_of(r2), "-W", "0.2").returncode == 0, 5, step=0)
    assert reachable is not None and reachable < 2.0, (added, reachable)  # from the end of h2's ADD
    c2 = next(iter(h2.containers.values()))[0]
    assert ping(c2, address_of(r1)).returncode == 0


def test_killed_member_host_disappears_after_ttl_restart_disturbs_nothing(store, underlay, make_netns, members):
    config = overlay_conf(store, leaseTTL=3)
    h1, h2, h3 = (underlay.add_host() for _ in range(3))
    results = []
    for h in (h1, h2, h3):  # each host's member daemon renews its lease from its first ADD on
        results.append(attach(h, make_netns, config))
        members.start(h)
    r1, r2, _ = results
    assert wait_for(lambda: len(routes(h1)) == 2 and len(routes(h2)) == 2, 10) is not None
    c1 = next(iter(h1.containers.values()))[0]
    # restarting h1's member daemon: no entry changes, pings keep working
    before = h1.ns.run("ip", "route", "show", "dev", "pnx4242").stdout
    pinging = subprocess.Popen(["ip", "netns", "exec", c1.name, "ping", "-q", "-i", "0.1", "-c", "40",
                                address_of(r2)], stdout=subprocess.PIPE, text=True)
    members.kill(h1, sig=15)
    members.start(h1)
    time.sleep(4)  # longer than the TTL: the restarted member daemon renewed the lease in time
    assert h1.ns.run("ip", "route", "show", "dev", "pnx4242").stdout == before
    summary = pinging.communicate(timeout=30)[0]
    assert " 0% packet loss" in summary, summary  # not one packet lost across the restart
    # h3's member daemon dies: its lease runs out and the others drop its entries
    members.kill(h3)
    h3_subnet = "10.244.2.0/24"
    assert h3_subnet in routes(h1)
    gone = wait_for(lambda: h3_subnet not in routes(h1) and h3_subnet not in routes(h2), 8)
    assert gone is not None and gone > 1.0, gone  # not before the TTL ran out
    assert ping(c1, address_of(r2)).returncode == 0


def test_two_overlays_on_the_same_hosts_are_separate(store, underlay, make_netns, members):
    """Different VNIs, networks, devices and bridges; no route from one overlay's containers to the
    other's (isolation by routing: see docs/plugins/overlay.md on isDefaultGateway)."""
    ov1 = overlay_conf(store)
    ov2 = overlay_conf(store, name="ov2", vni=77, network="10.245.0.0/16")
    h1, h2 = underlay.add_host(), underlay.add_host()
    a1, b1 = attach(h1, make_netns, ov1, "a"), attach(h1, make_netns, ov2, "b")
    a2, b2 = attach(h2, make_netns, ov1, "a"), attach(h2, make_netns, ov2, "b")
    for network in ("ov1", "ov2"):
        members.start(h1, network)
    assert wait_for(lambda: len(routes(h1)) == 1 and len(routes(h1, "pnx77")) == 1, 10) is not None
    assert {"pnx4242", "pno4242", "pnx77", "pno77"} <= set(h1.ns.links())
    (ca1, _), (cb1, _) = h1.containers.values()
    (ca2, _), (cb2, _) = h2.containers.values()
    assert ping(ca1, address_of(a2)).returncode == 0 and ping(cb1, address_of(b2)).returncode == 0
    assert address_of(b2).startswith("10.245.") and address_of(a2).startswith("10.244.")
    crossed = ping(ca1, address_of(b2))
    assert crossed.returncode != 0 and "unreachable" in crossed.stdout + crossed.stderr
    assert ping(cb2, address_of(a1)).returncode != 0


def test_default_gateway_and_masquerade_reach_outside_not_the_overlay(underlay, make_netns, tmp_path):
    from tests.netns import link_outside

    config = overlay_conf({"type": "file", "path": str(tmp_path / "s.json")}, isDefaultGateway=True, ipMasq=True)
    h1, h2 = underlay.add_host(), underlay.add_host()
    r1 = attach(h1, make_netns, config)
    attach(h2, make_netns, config)
    r3 = attach(h1, make_netns, config)  # syncs h2 on h1
    c1, c2 = next(iter(h1.containers.values()))[0], next(iter(h2.containers.values()))[0]
    assert {"dst": "0.0.0.0/0", "gw": "10.244.0.1"} in r1["routes"]
    outside = make_netns("o")
    link_outside(h1.ns, outside)  # 192.0.2.2, with no route back to 10.244.0.0/16
    assert ping(c1, "192.0.2.2").returncode == 0  # masqueraded to 192.0.2.1
    ruleset = h1.ns.run("nft", "list", "table", "inet", "pynet").stdout
    assert "10.244.0.0/16" in ruleset and address_of(r1) in ruleset
    # inside the overlay the source address stays the container's
    assert tcp_echo(c2, c1, address_of(next(iter(h2.containers.values()))[1]), WHO) == address_of(r1)
    assert tcp_echo(outside, c1, "192.0.2.2", WHO) == "192.0.2.1"
    for result in (r1, r3):
        cid = [n for n, (ns, r) in h1.containers.items() if r is result][0]
        ns = h1.containers[cid][0]
        assert cni(h1, ns, "DEL", {**config, "prevResult": result}, cid=cid).ok
    assert address_of(r1) not in h1.ns.run("nft", "list", "ruleset").stdout


@pytest.mark.parametrize("isolation,backend", [(False, "nftables"), (True, "nftables"), (True, "iptables")])
def test_isolation_between_overlays_routed_by_the_host(isolation, backend, underlay, make_netns, tmp_path, members):
    store = {"type": "file", "path": str(tmp_path / "s.json")}
    extra = {"isDefaultGateway": True, "isolation": isolation, "firewallBackend": backend}
    ov1 = overlay_conf(store, **extra)
    ov2 = overlay_conf(store, name="ov2", vni=77, network="10.245.0.0/16", **extra)
    h1, h2 = underlay.add_host(), underlay.add_host()
    results = {}
    for host, config in ((h2, ov1), (h2, ov2), (h1, ov1), (h1, ov2)):  # h1 last: it knows h2
        results[(host.ns.name, config["name"])] = attach(host, make_netns, config)
    for network in ("ov1", "ov2"):
        members.start(h2, network)
    assert wait_for(lambda: len(routes(h2)) == 1 and len(routes(h2, "pnx77")) == 1, 10) is not None
    a1, b1, b2 = (results[k] for k in ((h1.ns.name, "ov1"), (h1.ns.name, "ov2"), (h2.ns.name, "ov2")))
    ca1 = [ns for ns, r in h1.containers.values() if r is a1][0]
    assert ping(ca1, address_of(b1)).returncode == int(isolation)  # same host, other overlay
    a2 = results[(h2.ns.name, "ov1")]
    assert ping(ca1, address_of(a2)).returncode == 0  # own overlay, other host: always
    if isolation:
        assert ping(ca1, address_of(b2)).returncode != 0
    # the last DELs take the isolation with the bridges
    for (name, network), result in results.items():
        if name != h1.ns.name:
            continue
        ns = [n for n, r in h1.containers.values() if r is result][0]
        config = ov1 if network == "ov1" else ov2
        assert cni(h1, ns, "DEL", {**config, "prevResult": result}, cid=ns.name).ok
    firewall = h1.ns.run("nft", "list", "ruleset").stdout + h1.ns.run("iptables-save", check=False).stdout
    assert "pno4242" not in firewall and "pnx77" not in firewall


def test_store_down_keeps_entries_and_traffic(underlay, make_netns, members):
    from tests.integration.overlay_lab import Etcd

    etcd = Etcd(underlay.ns, underlay.address)
    try:
        config = overlay_conf({"type": "etcd", "endpoints": [etcd.url]})
        h1, h2 = underlay.add_host(), underlay.add_host()
        r1, r2 = attach(h1, make_netns, config), attach(h2, make_netns, config)
        members.start(h1)
        members.start(h2)
        assert wait_for(lambda: routes(h1) == ["10.244.1.0/24"] and routes(h2) == ["10.244.0.0/24"], 10) is not None
        etcd.stop()
        time.sleep(2)
        assert routes(h1) == ["10.244.1.0/24"] and routes(h2) == ["10.244.0.0/24"]
        c1 = next(iter(h1.containers.values()))[0]
        assert ping(c1, address_of(r2)).returncode == 0
        assert all(proc.poll() is None for proc in members.procs.values())  # still running, retrying
    finally:
        etcd.stop()


def test_the_bridge_keeps_its_own_mac(underlay, make_netns, tmp_path):
    """The overlay's bridge is made by the bridge plugin's helper: its MAC is its own, it does not
    follow the lowest MAC of its ports (the gateway MAC in the containers' ARP caches)."""
    config = overlay_conf({"type": "file", "path": str(tmp_path / "s.json")})
    host = underlay.add_host()
    first = attach(host, make_netns, config)
    bridge_mac = host.ns.links()["pno4242"]["address"]
    assert first["interfaces"][0] == {"name": "pno4242", "mac": bridge_mac}
    host.ns.run("ip", "link", "set", first["interfaces"][1]["name"], "address", "02:00:00:00:00:01")
    attach(host, make_netns, config)
    assert host.ns.links()["pno4242"]["address"] == bridge_mac
