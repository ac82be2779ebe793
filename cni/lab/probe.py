"""Pings without a process per ping, for timing: a raw ICMP socket opened in each source's network
namespace sends echo requests to every target not yet answered, every 20 ms, until all answered."""

from __future__ import annotations

import os
import select
import socket
import struct
import time

from ..kernel.netns import entered

ECHO_REQUEST, ECHO_REPLY = 8, 0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def _echo(ident: int, seq: int) -> bytes:
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, _checksum(header + b"pynet-lab"), ident, seq) + b"pynet-lab"


def _replies(sock: socket.socket, ident: int):
    """The source addresses of the echo replies with `ident` waiting on the socket."""
    while True:
        try:
            packet, (source, _) = sock.recvfrom(2048)
        except BlockingIOError:
            return
        offset = (packet[0] & 0x0F) * 4  # a raw socket gets the IP header too
        kind, _, _, rid = struct.unpack_from("!BBHH", packet, offset)
        if kind == ECHO_REPLY and rid == ident:
            yield source


def first_replies(pairs: list[tuple[str, str]], netns: dict[str, str], timeout: float,
                  since: float | None = None) -> dict[tuple[str, str], float | None]:
    """{(source, target address): seconds from `since` (monotonic; default now) until its first echo
    reply, None if none came within `timeout` s from now}; `netns`: each source's namespace path."""
    begin = time.monotonic() if since is None else since
    sockets: dict[socket.socket, str] = {}
    try:
        for name in {source for source, _ in pairs}:
            with entered(netns[name]):
                sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            sock.setblocking(False)
            sockets[sock] = name
        ident, seq = os.getpid() & 0xFFFF, 0
        pending, answered = set(pairs), {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            seq = (seq + 1) & 0xFFFF
            for sock, name in sockets.items():
                for target in [t for s, t in pending if s == name]:
                    try:
                        sock.sendto(_echo(ident, seq), (target, 0))
                    except OSError:  # no route yet
                        pass
            wait_until = time.monotonic() + 0.02
            while pending and (left := wait_until - time.monotonic()) > 0:
                for sock in select.select(list(sockets), [], [], left)[0]:
                    for source in _replies(sock, ident):
                        if (sockets[sock], source) in pending:
                            pending.discard((sockets[sock], source))
                            answered[(sockets[sock], source)] = round(time.monotonic() - begin, 3)
        return {**answered, **{pair: None for pair in pending}}
    finally:
        for sock in sockets:
            sock.close()
