"""Where the DNS server listens: a gateway address's UDP and TCP sockets (IP_FREEBIND: the address
need not be up yet), and its TCP clients' connections."""

from __future__ import annotations

import ipaddress
import socket
import time

from . import records

IP_FREEBIND, IPV6_FREEBIND = 15, 78


def bind(address: str, port: int, kind: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
            except OSError:  # a kernel before 4.15: IP_FREEBIND (below) covers IPv6 sockets too
                pass
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        if kind == socket.SOCK_DGRAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


class Listener:
    """One gateway address: its UDP and TCP sockets and the View they answer from."""

    def __init__(self, address: str, port: int, view: records.View) -> None:
        self.address, self.view = address, view
        self.udp = bind(address, port, socket.SOCK_DGRAM)
        try:
            self.tcp = bind(address, port, socket.SOCK_STREAM)
        except OSError:
            self.udp.close()
            raise

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


class Connection:
    __slots__ = ("sock", "listener", "inbox", "outbox", "last")

    def __init__(self, sock: socket.socket, listener: Listener) -> None:
        self.sock, self.listener, self.inbox, self.outbox, self.last = sock, listener, b"", b"", time.monotonic()
