"""What the overlay puts on the wire: MTU limits that fail loudly, VXLAN with the configured VNI
and port around every container packet, nothing of the container subnets in the clear."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import pytest

from tests.integration.overlay_lab import (address_of, members, attach, overlay_conf, ping, routes, store,  # noqa: F401
                                           underlay, wait_for)

pytestmark = pytest.mark.root


def two_hosts(store, underlay, make_netns, members, **extra):
    config = overlay_conf(store, **extra)
    h1, h2 = underlay.add_host(), underlay.add_host()
    r1, r2 = attach(h1, make_netns, config), attach(h2, make_netns, config)
    members.start(h1)
    assert wait_for(lambda: len(routes(h1)) == 1, 10) is not None
    c1, c2 = (next(iter(h.containers.values()))[0] for h in (h1, h2))
    return (c1, r1), (c2, r2)


@pytest.mark.parametrize("underlay_mtu,mtu,expected", [(1500, None, 1450), (9000, None, 8950), (1500, 1400, 1400)])
def test_ping_dont_fragment_at_overlay_mtu(make_netns, tmp_path, members, underlay_mtu, mtu, expected):
    from tests.integration.overlay_lab import Underlay

    lab = Underlay(make_netns, tmp_path, mtu=underlay_mtu)
    try:
        _ping_at_mtu(lab, make_netns, tmp_path, members, mtu, expected)
    finally:
        lab.close()


def _ping_at_mtu(lab, make_netns, tmp_path, members, mtu, expected):
    extra = {"mtu": mtu} if mtu else {}
    (c1, r1), (c2, r2) = two_hosts({"type": "file", "path": str(tmp_path / "s.json")}, lab, make_netns, members,
                                   **extra)
    assert r1["interfaces"][2]["mtu"] == expected
    assert f"mtu {expected}" in c1.run("ip", "link", "show", "eth0").stdout
    fits = ping(c1, address_of(r2), "-M", "do", "-s", str(expected - 28))
    assert fits.returncode == 0, fits.stdout + fits.stderr
    too_big = ping(c1, address_of(r2), "-M", "do", "-s", str(expected - 27))
    assert too_big.returncode != 0
    assert "too long" in (too_big.stdout + too_big.stderr).lower()  # refused at once, not a black hole


CAPTURE = """
import sys
from scapy.all import sniff, wrpcap
packets = sniff(iface="ulbr", timeout=float(sys.argv[2]), started_callback=lambda: print("ready", flush=True))
wrpcap(sys.argv[1], packets)
"""


def test_underlay_carries_only_vxlan_with_the_vni(store, underlay, make_netns, members, tmp_path):
    from scapy.all import ICMP, IP, TCP, UDP, VXLAN, bind_layers, rdpcap

    port, vni, network = 8472, 4242, ipaddress.ip_network("10.244.0.0/16")
    (c1, r1), (c2, r2) = two_hosts(store, underlay, make_netns, members, port=port)
    pcap = tmp_path / "underlay.pcap"
    sniffer = subprocess.Popen(["ip", "netns", "exec", underlay.ns.name, sys.executable, "-c", CAPTURE, str(pcap), "6"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert sniffer.stdout.readline().strip() == "ready"
        assert c1.run("ping", "-c3", "-i0.2", address_of(r2), check=False).returncode == 0
        assert c2.run("ping", "-c2", "-i0.2", address_of(r1), check=False).returncode == 0
        from tests.integration.test_overlay import tcp_echo

        assert tcp_echo(c2, c1, address_of(r2)) == "HELLO"
        sniffer.wait(timeout=20)
    finally:
        sniffer.kill()
    bind_layers(UDP, VXLAN, dport=port)
    inner_icmp = inner_tcp = 0
    for packet in rdpcap(str(pcap)):
        if IP not in packet:
            continue
        outer = packet[IP]
        for address in (outer.src, outer.dst):
            assert ipaddress.ip_address(address) not in network, f"unencapsulated: {packet.summary()}"
        if UDP in packet and packet[UDP].dport == port:
            assert VXLAN in packet and packet[VXLAN].vni == vni, packet.summary()
            inner = packet[VXLAN].payload
            assert IP in inner and ipaddress.ip_address(inner[IP].src) in network
            inner_icmp += ICMP in inner
            inner_tcp += TCP in inner
    assert inner_icmp >= 10 and inner_tcp >= 4, (inner_icmp, inner_tcp)  # 5 requests + 5 replies at least
