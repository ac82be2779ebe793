"""What crosses a link, seen from a namespace: every IPv4 packet's protocol, addresses and ports, read
with an AF_PACKET socket (no tcpdump needed)."""

from __future__ import annotations

import socket
import struct
import time

from cni.kernel.netns import entered

ETH_P_ALL, ETH_P_IP = 0x0003, 0x0800


def capture(netns: str, ifname: str, seconds: float) -> list[tuple[int, str, str, int, int]]:
    """(IP protocol, source, destination, source port, destination port) of every IPv4 packet seen
    on `ifname` in the namespace at path `netns` for `seconds` (ports 0 but for TCP and UDP)."""
    seen = []
    with entered(netns):  # a socket belongs to the namespace it is made in
        # every protocol: a bridge port's frames reach only taps of all protocols (the bridge takes them first)
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        sock.bind((ifname, ETH_P_ALL))
        sock.settimeout(0.1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                frame = sock.recv(65535)
            except TimeoutError:
                continue
            if int.from_bytes(frame[12:14], "big") != ETH_P_IP:
                continue
            ip = frame[14:]
            proto, header = ip[9], (ip[0] & 15) * 4
            ports = struct.unpack("!HH", ip[header:header + 4]) if proto in (6, 17) else (0, 0)
            seen.append((proto, socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), *ports))
    finally:
        sock.close()
    return seen
