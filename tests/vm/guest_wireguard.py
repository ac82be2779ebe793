"""Runs inside a VM (see conftest.py): pynet's WireGuard pieces on the stock Debian kernel, which has
WireGuard. Two namespaces joined by a veth (the underlay) each get a WireGuard device keyed by
cni.plugins.overlay.keys (pure-Python X25519: a handshake proves the kernel derives the same public
keys) and set up by cni.kernel.wireguard; pings cross, and a capture on the underlay sees only
UDP between the WireGuard ports, never the pings themselves. The lab's convergence watch counts a
peer as known once its route is there too."""

from __future__ import annotations

import threading
import time

import pytest

from cni.kernel import wireguard
from cni.kernel.links import netlink
from cni.lab.convergence import Watch, known_underlays
from cni.plugins.overlay import keys
from tests.netns.sniff import capture

pytestmark = pytest.mark.root

PORTS = {"a": 51820, "b": 51821}
UNDERLAY = {"a": "192.168.50.1", "b": "192.168.50.2"}
INSIDE = {"a": "10.99.1.1", "b": "10.99.2.1"}
SUBNET = {"a": "10.99.1.0/24", "b": "10.99.2.0/24"}


@pytest.fixture
def pair(make_netns):
    ns = {"a": make_netns("wa"), "b": make_netns("wb")}
    ns["a"].run("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", ns["b"].name)
    pairs = {}
    for side in "ab":
        ns[side].run("ip", "addr", "add", f"{UNDERLAY[side]}/24", "dev", "ul0")
        ns[side].run("ip", "link", "set", "ul0", "up")
        pairs[side] = keys.new_private_key()
        with netlink(ns[side].path) as ipr:
            wireguard.create(ipr, "pnw0", 1420)
            wireguard.configure(ipr, "pnw0", pairs[side], PORTS[side])
        ns[side].run("ip", "addr", "add", f"{INSIDE[side]}/32", "dev", "pnw0")
        ns[side].run("ip", "link", "set", "pnw0", "up")
    for side, other in (("a", "b"), ("b", "a")):
        with netlink(ns[side].path) as ipr:
            wireguard.set_peer(ipr, "pnw0", keys.public_key(pairs[other]), f"{UNDERLAY[other]}:{PORTS[other]}",
                               (SUBNET[other],))
        ns[side].run("ip", "route", "add", SUBNET[other], "dev", "pnw0")
    return ns, pairs


def test_pings_cross_encrypted_and_the_underlay_sees_only_wireguard(pair):
    ns, pairs = pair
    seen: list = []
    sniffer = threading.Thread(target=lambda: seen.extend(capture(ns["a"].path, "ul0", 4)))
    sniffer.start()
    time.sleep(0.3)
    done = ns["a"].run("ping", "-c5", "-i0.2", "-W2", INSIDE["b"], check=False)
    sniffer.join()
    assert done.returncode == 0, done.stdout + done.stderr  # the handshake worked: our X25519 keys are the kernel's
    assert seen and {(proto, sport, dport) for proto, _, _, sport, dport in seen} <= {
        (17, PORTS["a"], PORTS["b"]), (17, PORTS["b"], PORTS["a"])}, sorted(set(seen))
    with netlink(ns["a"].path) as ipr:
        assert wireguard.peers(ipr, "pnw0") == {
            keys.public_key(pairs["b"]): (f"{UNDERLAY['b']}:{PORTS['b']}", (SUBNET["b"],))}


def test_a_removed_peer_is_unreachable_and_a_new_key_takes_over(pair):
    ns, pairs = pair
    assert ns["a"].run("ping", "-c1", "-W2", INSIDE["b"], check=False).returncode == 0
    with netlink(ns["a"].path) as ipr:
        wireguard.remove_peer(ipr, "pnw0", keys.public_key(pairs["b"]))
        assert wireguard.peers(ipr, "pnw0") == {}
    assert ns["a"].run("ping", "-c1", "-W1", INSIDE["b"], check=False).returncode != 0
    rotated = keys.new_private_key()  # b rotates its key; a learns the new public key
    with netlink(ns["b"].path) as ipr:
        wireguard.configure(ipr, "pnw0", rotated, PORTS["b"])
    with netlink(ns["a"].path) as ipr:
        wireguard.set_peer(ipr, "pnw0", keys.public_key(rotated), f"{UNDERLAY['b']}:{PORTS['b']}", (SUBNET["b"],))
    assert ns["a"].run("ping", "-c1", "-W2", INSIDE["b"], check=False).returncode == 0


def test_the_lab_watch_knows_a_peer_once_its_route_is_there(pair):
    ns, _ = pair
    ns["a"].run("ip", "route", "del", SUBNET["b"], "dev", "pnw0")
    with netlink(ns["a"].path) as ipr:
        assert known_underlays(ipr, "pnw0") == set()  # b's peer without its route
    with netlink(ns["b"].path) as ipr:
        assert known_underlays(ipr, "pnw0") == {UNDERLAY["a"]}
    with Watch("pnw0") as watch:
        for side in "ab":
            watch.add(UNDERLAY[side], ns[side].path)
            watch.start(UNDERLAY[side])
        assert watch.convergence(UNDERLAY["a"], 5) is not None  # b has a's peer and route
        assert watch.convergence(UNDERLAY["b"], 2) is None  # a's full reads each second find no route
        routed = time.monotonic()
        ns["a"].run("ip", "route", "add", SUBNET["b"], "dev", "pnw0")
        took = watch.convergence(UNDERLAY["b"], 5)
        assert took is not None and watch.since[(UNDERLAY["a"], UNDERLAY["b"])] >= routed
