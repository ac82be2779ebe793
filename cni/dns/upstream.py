"""Forwarding to the host's resolvers: every name that is not the containers' goes there, and its
answer (or SERVFAIL, within BUDGET seconds) goes back to the client with the client's id.

Each forwarded query has a socket of its own, connected to the upstream (the kernel drops datagrams
from anyone else; the port and the id are random), non-blocking: waiting never holds up local answers.
A truncated answer to a client that asked over TCP is asked again over TCP, of the same upstream.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import selectors
import socket
import struct
import time

from ..files import read_regular
from . import message as m

BUDGET = 1.8  # seconds from the query to the upstream's answer or SERVFAIL (a client waits 5)
MAX_PENDING = 1024
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"


def nameservers(path: str) -> list[str]:
    """The non-loopback nameservers of a resolv.conf file (none if it is unreadable)."""
    try:
        text = read_regular(path).decode("utf-8", "replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                address = ipaddress.ip_address(words[1].split("%")[0])
            except ValueError:
                continue
            name = f"{address}%{words[1].split('%')[1]}" if "%" in words[1] else str(address)  # its scope kept
            if not address.is_loopback and name not in found:
                found.append(name)
    return found


def upstreams(resolv_conf: str | None) -> list[str]:
    """The host's upstream resolvers: `resolv_conf` (PYNET_DNS_RESOLV_CONF) if given, else
    /etc/resolv.conf's, else (only loopback there: systemd-resolved's stub) systemd-resolved's own."""
    if resolv_conf:
        return nameservers(resolv_conf)
    return nameservers("/etc/resolv.conf") or nameservers(SYSTEMD_RESOLV_CONF)


class Pending:
    __slots__ = ("query", "reply", "id", "data", "tried", "deadline", "attempt_end", "sock", "tcp", "server",
                 "inbox", "outbox")

    def __init__(self, query: m.Query, data: bytes, reply, tcp: bool) -> None:
        # a random id from the kernel's CSPRNG, as secrets' (whose imports would delay the server's start)
        self.query, self.reply, self.id = query, reply, int.from_bytes(os.urandom(2), "big")
        self.data = m.with_id(data, self.id)
        self.tried = 0
        self.deadline = time.monotonic() + BUDGET
        self.attempt_end = 0.0
        self.sock: socket.socket | None = None
        self.tcp = tcp  # the client asked over TCP: a truncated answer is asked again over TCP
        self.server = ""
        self.inbox = self.outbox = b""


class Forwarder:
    """The queries sent upstream and not answered yet; `register`/`unregister` put their sockets in
    the server's selector (with this object's `ready` as the callback)."""

    def __init__(self, register, unregister) -> None:
        self.register, self.unregister = register, unregister
        self.servers: list[str] = []
        self.pending: dict[socket.socket, Pending] = {}

    def forward(self, query: m.Query, data: bytes, reply, tcp: bool = False) -> None:
        if not self.servers or len(self.pending) >= MAX_PENDING:
            reply(m.servfail(query))
            return
        self._send(Pending(query, data, reply, tcp))

    def _send(self, pending: Pending) -> None:
        """Try the next upstream, or answer SERVFAIL when none is left."""
        self._close(pending)
        now = time.monotonic()
        while pending.tried < len(self.servers) and now < pending.deadline:
            server = self.servers[pending.tried]
            pending.tried += 1
            family = socket.AF_INET6 if ":" in server else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            try:
                sock.connect((server, 53))
                sock.send(pending.data)
            except OSError:
                sock.close()
                continue
            left = len(self.servers) - pending.tried + 1
            pending.attempt_end = min(pending.deadline, now + max(0.4, (pending.deadline - now) / left))
            pending.sock, pending.server = sock, server
            self.pending[sock] = pending
            self.register(sock, self.ready)
            return
        pending.reply(m.servfail(pending.query))

    def _close(self, pending: Pending) -> None:
        if pending.sock is not None:
            self.pending.pop(pending.sock, None)
            self.unregister(pending.sock)
            pending.sock.close()
            pending.sock = None

    def ready(self, sock: socket.socket) -> None:
        pending = self.pending.get(sock)
        if pending is None:
            return
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return
        except OSError:  # ICMP unreachable or refused: the next upstream at once
            self._send(pending)
            return
        if not self._answers(pending, data):
            return  # not the answer to this query: keep waiting
        if pending.tcp and data[2] & 0x02:  # truncated, and the client can take it whole
            self._over_tcp(pending)
            return
        self._close(pending)
        pending.reply(m.with_id(data, pending.query.id))

    @staticmethod
    def _answers(pending: Pending, data: bytes) -> bool:
        question = pending.query.question
        return len(data) >= 12 + len(question) and struct.unpack_from("!H", data)[0] == pending.id \
            and bool(data[2] & 0x80) and data[12:12 + len(question)].lower() == question.lower()

    def _over_tcp(self, pending: Pending) -> None:
        """Ask the same upstream again over TCP (what is left of the time budget; no other after it)."""
        server = pending.server
        self._close(pending)
        pending.tried = len(self.servers)
        sock = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET,
                             socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        if sock.connect_ex((server, 53)) not in (0, errno.EINPROGRESS):
            sock.close()
            pending.reply(m.servfail(pending.query))
            return
        pending.sock, pending.attempt_end = sock, pending.deadline
        pending.outbox = struct.pack("!H", len(pending.data)) + pending.data
        self.pending[sock] = pending
        self.register(sock, self.tcp_ready, events=selectors.EVENT_WRITE)

    def tcp_ready(self, sock: socket.socket) -> None:
        pending = self.pending.get(sock)
        if pending is None:
            return
        try:
            if pending.outbox:
                pending.outbox = pending.outbox[sock.send(pending.outbox):]
                if not pending.outbox:  # all sent: now wait for the answer
                    self.unregister(sock)
                    self.register(sock, self.tcp_ready)
                return
            data = sock.recv(65537)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._send(pending)  # closed or refused: SERVFAIL
            return
        pending.inbox += data
        if len(pending.inbox) >= 2 and len(pending.inbox) >= 2 + struct.unpack_from("!H", pending.inbox)[0]:
            answer = pending.inbox[2:2 + struct.unpack_from("!H", pending.inbox)[0]]
            self._close(pending)
            pending.reply(m.with_id(answer, pending.query.id) if self._answers(pending, answer)
                          else m.servfail(pending.query))

    def expire(self) -> float:
        """Move on from the upstreams that did not answer in time; seconds until the next such check."""
        now = time.monotonic()
        following = 1.0
        for pending in list(self.pending.values()):
            if now >= pending.attempt_end:
                self._send(pending)
            if pending.sock is not None:
                following = min(following, pending.attempt_end - now)
        return max(0.01, following)

    def close(self) -> None:
        for pending in list(self.pending.values()):
            self._close(pending)



def without(servers: list[str], own) -> list[str]:
    """The upstreams but our own listening addresses (a host whose resolv.conf names a gateway)."""
    return [s for s in servers if s not in set(own)]
