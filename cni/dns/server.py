"""pynet's DNS server: one process per host network namespace, for every DNS-enabled network there.

It listens on UDP and TCP port 53 of each network's gateway address(es) only (IP_FREEBIND: an
address not up yet is fine), answers the names of the asking client's network from the records
(cni.dns.records), and forwards the rest upstream (cni.dns.upstream). It reloads when the records
change (inotify, or SIGHUP), adding and removing listeners, and leaves when none are left.

The UDP hot path: recvfrom; the answer given before to the very same query (but its id), or the
question found and a ready answer looked up by (gateway, lowercased question) with the client's RD
and question put in; the client's id; sendto. Everything else takes the slow path (the codec).
"""

from __future__ import annotations

import ipaddress
import os
import selectors
import signal
import socket
import struct
import sys
import time

from ..ipam.watch import Watcher
from ..log import info_enabled, logger
from . import daemon, records, upstream
from .listeners import Connection, Listener
from . import message as m

LINGER = 1.0  # seconds without a network of this host's to serve before leaving (a container replaced keeps its server)
TCP_IDLE, TCP_MAX = 10.0, 128
BATCH = 64  # datagrams read per wakeup of one socket
CACHE_SIZE = 4096  # ready answers per gateway (by question; and by whole query but the id)
TICK = 0.1  # seconds between looks at what is not a socket's (binds to retry, idle connections, leaving)
TCP_BACKLOG = 1 << 16  # bytes of answers a TCP client may leave unread before it is dropped


class Server:
    def __init__(self, where: str, port: int = 53, resolv_conf: str | None = None, lock=None) -> None:
        self.where, self.port, self.resolv_conf, self.lock = where, port, resolv_conf, lock
        self.lock_path = daemon.lock_path()
        self.selector = selectors.DefaultSelector()
        self.listeners: dict[str, Listener] = {}
        self.connections: dict[socket.socket, Connection] = {}
        self.attachments: dict[str, records.Attachment] = {}
        self.views: dict[str, records.View] = {}  # by gateway address
        self.forwarder = upstream.Forwarder(self._register, self._unregister)
        self.watcher = Watcher()
        self.empty_since: float | None = None
        self.failed: set[str] = set()  # addresses whose bind failed: tried again
        self.wake_r, self.wake_w = socket.socketpair()
        for sock in (self.wake_r, self.wake_w):
            sock.setblocking(False)
        self.signalled = False
        self.stopping = False

    # the selector's callbacks are (function, argument)
    def _register(self, sock, callback, argument=None, events=selectors.EVENT_READ) -> None:
        self.selector.register(sock, events, (callback, sock if argument is None else argument))

    def _unregister(self, sock) -> None:
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def reload(self, changed=None) -> None:
        """Read the records again (all, or the files `changed`), and listen where they say."""
        if changed is not None and self._added(changed):
            return
        self.attachments = records.load(self.where, changed, self.attachments if changed is not None else None)
        views = self.views = records.views(self.attachments.values())
        self.failed &= views.keys()  # (a network gone: its address is not tried again)
        for address in list(self.listeners):
            if address not in views:
                self._close_listener(address)
        for address, view in views.items():
            listener = self.listeners.get(address)
            if listener is not None:
                listener.view = view  # its old cache goes with the old view
                continue
            try:
                listener = self.listeners[address] = Listener(address, self.port, view)
            except OSError as e:
                if address not in self.failed:
                    logger().warning("cannot listen on %s port %d: %s (trying again)", address, self.port, e.strerror)
                self.failed.add(address)
                continue
            self.failed.discard(address)
            self._register(listener.udp, self.udp_ready, listener)
            self._register(listener.tcp, self.accept, listener)
        self.forwarder.servers = upstream.without(upstream.upstreams(self.resolv_conf), views)
        served = records.served(self.attachments.values())
        self.empty_since = None if served else (self.empty_since or time.monotonic())

    def _added(self, changed) -> bool:
        """Take in `changed` in place if it only adds containers to networks served already, with the
        domain of the network's others and no gateway they do not have (a container's ADD, or an
        overlay peer's, which has none): the views of the network's gateways learn the names at a
        cost that does not grow with the host's records. False: a full reload is needed (a record
        replaced or removed, a network, gateway or domain new). Nothing but write_atomic's temporary
        files changed: nothing to do."""
        names = {name for name in changed if not name.startswith(".") and name.endswith(".json")}
        if not names:
            return True
        if names & self.attachments.keys():
            return False
        new = records.load(self.where, names)
        domains, gateways = {}, {}
        for attachment in self.attachments.values():
            domains[attachment.network] = attachment.domainName
            gateways.setdefault(attachment.network, set()).update(attachment.gateways)
        for attachment in new.values():
            if not gateways.get(attachment.network) or domains[attachment.network] != attachment.domainName \
                    or not set(attachment.gateways) <= gateways[attachment.network]:
                return False
        targets = [(attachment, self.views.get(gateway)) for attachment in new.values()
                   for gateway in {str(ipaddress.ip_address(g)) for g in gateways[attachment.network]}]
        if any(view is None for _, view in targets):
            return False
        for attachment, view in targets:  # as records.views() adds a network's members to its gateways' views
            view.add(attachment)
            view.cache.clear()  # (it may hold NXDOMAIN for the new names)
            view.seen.clear()
            view.host_ptr.update(m.reverse_name(a.split("/")[0]) for a in attachment.addresses)  # (shared)
        self.attachments.update(new)
        if records.served(new.values()):
            self.empty_since = None
        return True

    def _close_listener(self, address: str) -> None:
        listener = self.listeners.pop(address)
        for sock in (listener.udp, listener.tcp):
            self._unregister(sock)
        for connection in [c for c in self.connections.values() if c.listener is listener]:
            self._drop(connection)
        listener.close()

    # UDP
    def udp_ready(self, listener: Listener) -> None:
        view = listener.view
        recv, send = listener.udp.recvfrom, listener.udp.sendto
        cache, clients, seen = view.cache, view.clients, view.seen
        for _ in range(BATCH):
            try:
                data, client = recv(4096)
            except OSError:  # BlockingIOError: all read
                return
            if client[0] not in clients and not view.admits(client[0]):
                continue  # not from the network: no answer (no open resolver)
            ready = seen.get(data[2:])  # the very query as asked before (but its id): the answer as given then
            if ready is not None:
                try:
                    send(data[:2] + ready, client)
                except OSError:
                    pass
                continue
            end = 12
            if data[4:10] == b"\0\1\0\0\0\0" and not data[2] & 0xF8 and len(data) > 16:
                length = data[12]
                while 0 < length < 64:
                    end += length + 1
                    length = data[end] if end < len(data) else 64
                if length == 0 and end + 5 <= len(data):
                    question_end = end + 5
                    edns = data[11]
                    if data[10] or (edns and (edns > 1 or data[question_end:question_end + 3] != b"\0\0\x29"
                                              or len(data) < question_end + 11 or data[question_end + 6])):
                        edns = 2  # more records than an OPT: the slow path
                    if edns < 2:
                        entry = cache.get(data[12:end + 1].lower() + data[end + 1:question_end])
                        if entry is not None:
                            head, tail = entry[(data[2] & 1) | (edns << 1)]
                            answer = head + data[12:question_end] + tail
                            if len(seen) < CACHE_SIZE:
                                seen[data[2:]] = answer
                            try:
                                send(data[:2] + answer, client)
                            except OSError:
                                pass
                            continue
            self.handle(data, listener, lambda answer, to=client, udp=listener.udp: self._udp_send(udp, answer, to))

    @staticmethod
    def _udp_send(udp: socket.socket, answer: bytes, client) -> None:
        try:
            udp.sendto(answer, client)
        except OSError:
            pass  # the listener closed since, or the client's buffer is full: it asks again

    # the slow path, for UDP and TCP
    def handle(self, data: bytes, listener: Listener, reply, tcp: bool = False) -> None:
        try:
            query = m.parse(data)
        except m.Drop:
            return
        except m.Malformed as e:
            reply(m.formerr(data, e.rcode))
            return
        if query.qclass != m.IN:
            reply(m.response(query, m.REFUSED, authoritative=False))
            return
        view = listener.view
        found = view.lookup(query.name, query.qtype)
        if found is None:
            self.forwarder.forward(query, data, reply, tcp)
            return
        rcode, answers = found
        answer = m.response(query, rcode, answers, records.TTL)
        if not query.version:
            self._cache(view, query, rcode, answers)
        reply(answer)

    @staticmethod
    def _cache(view: records.View, query: m.Query, rcode: int, answers) -> None:
        """The four ready answers to this question (RD or not, EDNS or not), without id and question."""
        if len(view.cache) >= CACHE_SIZE:
            view.cache.clear()  # a flood of random names: start again
        entry = []
        for edns in (False, True):
            for rd in (0, m.RD):
                variant = m.Query(0, rd, query.question, query.name, query.qtype, query.qclass, edns)
                answer = m.response(variant, rcode, answers, records.TTL)
                entry.append((answer[2:12], answer[12 + len(query.question):]))
        view.cache[query.name + query.question[-4:]] = tuple(entry)

    # TCP
    def accept(self, listener: Listener) -> None:
        try:
            sock, peer = listener.tcp.accept()
        except OSError:
            return
        if not listener.view.admits(peer[0]):
            sock.close()
            return
        if len(self.connections) >= TCP_MAX:
            self._drop(min(self.connections.values(), key=lambda c: c.last))
        sock.setblocking(False)
        connection = self.connections[sock] = Connection(sock, listener)
        self._register(sock, self.tcp_ready, connection, selectors.EVENT_READ)

    def tcp_ready(self, connection: Connection) -> None:
        if connection.outbox:
            self._flush(connection)
        try:
            data = connection.sock.recv(65535)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(connection)
            return
        connection.last = time.monotonic()
        connection.inbox += data
        while len(connection.inbox) >= 2:
            size = struct.unpack_from("!H", connection.inbox)[0]
            if len(connection.inbox) < 2 + size:
                break
            message, connection.inbox = connection.inbox[2:2 + size], connection.inbox[2 + size:]
            self.handle(message, connection.listener, lambda answer, c=connection: self._tcp_send(c, answer), True)

    def _tcp_send(self, connection: Connection, answer: bytes) -> None:
        if connection.sock.fileno() < 0:
            return
        connection.outbox += struct.pack("!H", len(answer)) + answer
        if len(connection.outbox) > TCP_BACKLOG:
            self._drop(connection)
            return
        self._flush(connection)

    def _flush(self, connection: Connection) -> None:
        try:
            sent = connection.sock.send(connection.outbox)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop(connection)
            return
        connection.outbox = connection.outbox[sent:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if connection.outbox else 0)
        self.selector.modify(connection.sock, events, (self.tcp_ready, connection))

    def _drop(self, connection: Connection) -> None:
        self.connections.pop(connection.sock, None)
        self._unregister(connection.sock)
        connection.sock.close()

    # the loop
    def on_signal(self, number, _frame) -> None:
        if number == signal.SIGHUP:
            self.signalled = True
        else:
            self.stopping = True

    def wake(self, _sock) -> None:
        try:
            while self.wake_r.recv(512):
                pass
        except OSError:
            pass

    def serve(self) -> None:
        os.makedirs(self.where, mode=0o755, exist_ok=True)
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self.on_signal)
        self._register(self.wake_r, self.wake)
        self.watch(None)
        tick = 0.0
        while True:
            timeout = self.forwarder.expire() if self.forwarder.pending else 1.0
            for key, _ in self.selector.select(min(timeout, TICK)):
                callback, argument = key.data
                try:
                    callback(argument)
                except Exception:  # noqa: BLE001 - one query's bad luck must not take DNS down for all
                    logger().exception("pynet dns: a %s failed", getattr(callback, "__name__", "callback"))
            if self.signalled:
                self.signalled = False
                self.reload()
            now = time.monotonic()
            if now < tick:
                continue  # the rest a few times a second, not per datagram
            tick = now + TICK
            if self.failed:
                self.reload()
            if self.connections:
                self._idle_connections()
            if self.stopping or (self.empty_since is not None and now - self.empty_since > LINGER):
                if self.leave():
                    return

    def watch(self, _sock) -> None:
        changed = self.watcher.changes(self.where)
        if changed is None or changed:
            self.reload(changed)
        if _sock is None and self.watcher.fd >= 0:
            self._register(self.watcher.fd, self.watch)

    def _idle_connections(self) -> None:
        old = time.monotonic() - TCP_IDLE
        for connection in [c for c in self.connections.values() if c.last < old]:
            self._drop(connection)

    def leave(self) -> bool:
        """Stop listening and let go of the lock; True unless records came back meanwhile and no other
        server took over (then serve on, as before)."""
        for address in list(self.listeners):
            self._close_listener(address)
        daemon.release(self.lock, self.lock_path)
        self.lock = None
        if self.stopping or not records.served(records.load(self.where).values()):
            self.forwarder.close()
            return True
        self.lock = daemon.claim(self.lock_path)
        if self.lock is None:
            self.forwarder.close()
            return True  # another server took over
        daemon.mark(self.lock)
        self.reload()
        return False


USAGE = "usage: python -m cni.dns.server [--records DIR] [--port N] [--lock-fd FD]"


def main(argv: list[str] | None = None) -> int:
    """--records: the records directory (default: $PYNET_STATE_DIR's); --lock-fd: the namespace's
    lock, already held. (No argparse: its import is ~8 ms of the start the first ADD waits for.)"""
    words, options = list(sys.argv[1:] if argv is None else argv), {"--records": "", "--port": "53", "--lock-fd": "-1"}
    while len(words) >= 2 and words[0] in options:
        options[words[0]] = words[1]
        del words[:2]
    try:
        if words:
            raise ValueError(words[0])
        port, lock_fd = int(options["--port"]), int(options["--lock-fd"])
    except ValueError:
        print(f"{USAGE}\n{__doc__.splitlines()[0]}", file=sys.stderr)
        return 2
    lock = os.fdopen(lock_fd, "a+") if lock_fd >= 0 else daemon.claim(daemon.lock_path())
    if lock is None:
        return 0  # another server runs in this namespace
    daemon.mark(lock)
    server = Server(options["--records"] or records.directory(), port, os.environ.get("PYNET_DNS_RESOLV_CONF"), lock)
    if info_enabled():  # (logging's import is left out of the start the first ADD waits for)
        logger().info("pynet dns server %d serving %s", os.getpid(), server.where)
    server.serve()
    if info_enabled():
        logger().info("pynet dns server %d: no records left, leaving", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
