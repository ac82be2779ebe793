"""How fast the lab's hosts learn of each other, measured from outside, in each host's kernel.

`Watch` follows every host's overlay entries through netlink: one socket per host namespace
listens to route and neighbour notifications (FDB entries come as neighbour messages), and on each
batch the host's overlay device is read again with filtered dumps. Over VXLAN a host has another's
entries when it holds all three of Flannel's: an FDB entry whose destination is the other's underlay
address, a permanent neighbour with that entry's MAC, and a route via that neighbour's address.
Encrypted (a WireGuard device, routed: cni/plugins/overlay/tunnel.py) it holds a peer whose endpoint
is the other's underlay address and a route over the device to every subnet that peer is allowed
(WireGuard's peer changes send no notification; the member daemon adds the route after the peer,
and the watch reads every host again each second anyway). The convergence of a pair is the time from
the later of the two hosts' first ADDs until the one has the other's entries; a host's convergence is
the longest of its pairs.
"""

from __future__ import annotations

import math
import select
import statistics
import threading
import time

from ..kernel import wireguard
from ..kernel.links import Netlink, entry_notifications, fdb_entries, link_index, neighbours, onlink_routes
from ..kernel.links import summary as link_summary


def known_underlays(nl, device: str) -> set[str]:
    """The underlay addresses this host has complete entries for: FDB, neighbour and route over
    VXLAN; peer and routes over WireGuard."""
    index = link_index(nl, device)
    if index is None:
        return set()
    if link_summary(nl, index).kind == "wireguard":
        routed = set(onlink_routes(nl, index))
        return {endpoint.rsplit(":", 1)[0] for endpoint, allowed in wireguard.peers(nl, device).values()
                if endpoint and allowed and set(allowed) <= routed}
    by_mac = {mac: ip for ip, mac in neighbours(nl, index).items()}
    gateways = set(onlink_routes(nl, index).values())
    return {dst for mac, dst in fdb_entries(nl, index).items() if by_mac.get(mac) in gateways}


class Watch:
    """When each host first had each other host's entries (`since`), kept up to date by a thread."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.changed = threading.Condition()
        self.hosts: dict[str, tuple] = {}  # underlay -> (entry_notifications socket, Netlink for dumps)
        self.since: dict[tuple[str, str], float] = {}  # (observer, subject) -> monotonic time
        self.started: dict[str, float] = {}  # underlay -> monotonic time of its first ADD
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="convergence", daemon=True)
        self.thread.start()

    def add(self, underlay: str, netns: str) -> None:
        """Watch the host at `underlay`, whose namespace is `netns` (a path)."""
        events = entry_notifications(netns)
        with self.changed:
            self.hosts[underlay] = (events, Netlink(netns))
        self._refresh(underlay)

    def start(self, underlay: str) -> None:
        """The host's first ADD begins now (again: what the others knew of it before is forgotten)."""
        with self.changed:
            self.started[underlay] = time.monotonic()
            for pair in [p for p in self.since if p[1] == underlay]:
                del self.since[pair]

    def convergence(self, subject: str, timeout: float) -> float | None:
        """Seconds until every other watched host had the subject's entries (None: not within
        `timeout` seconds from now)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                others = [o for o in self.hosts if o != subject]
                if subject in self.started and all((o, subject) in self.since for o in others):
                    return max((self._pair(o, subject) for o in others), default=0.0)
                if not self.changed.wait(max(0.0, deadline - time.monotonic())) and time.monotonic() >= deadline:
                    return None

    def forgotten(self, subject: str, timeout: float) -> bool:
        """Whether every other watched host dropped the subject's entries within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while any(p[1] == subject and p[0] != subject for p in self.since):
                if not self.changed.wait(max(0.0, deadline - time.monotonic())) and time.monotonic() >= deadline:
                    return False
            return True

    def _pair(self, observer: str, subject: str) -> float:
        begin = max(self.started[subject], self.started.get(observer, 0.0))
        return round(max(0.0, self.since[(observer, subject)] - begin), 3)

    def _refresh(self, observer: str) -> None:
        with self.changed:
            entry = self.hosts.get(observer)
            if entry is None:
                return
            try:
                known = known_underlays(entry[1], self.device)
            except OSError:  # the namespace is going away
                return
            now = time.monotonic()
            for pair in [p for p in self.since if p[0] == observer and p[1] not in known]:
                del self.since[pair]
            for subject in known:
                self.since.setdefault((observer, subject), now)
            self.changed.notify_all()

    def _run(self) -> None:
        last_full = 0.0
        while not self.stopping:
            with self.changed:
                sockets = {events.sock: underlay for underlay, (events, _) in self.hosts.items()}
            if not sockets:
                time.sleep(0.1)
                continue
            for sock in select.select(list(sockets), [], [], 0.1)[0]:
                try:
                    while sock.recv(65536):
                        pass
                except OSError:  # drained (EAGAIN), or overrun (ENOBUFS): read the state anyway
                    pass
                self._refresh(sockets[sock])
            if time.monotonic() - last_full > 1:  # a notification lost in an overrun costs a second at most
                for underlay in sockets.values():
                    self._refresh(underlay)
                last_full = time.monotonic()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        for events, dumps in self.hosts.values():
            events.close()
            dumps.close()
        self.hosts.clear()


def summary(values: list[float]) -> dict:
    """Median, 95th percentile and maximum of convergence times (seconds)."""
    if not values:
        return {}
    ordered = sorted(values)
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]  # nearest rank
    return {"median_s": round(statistics.median(ordered), 3), "p95_s": p95, "max_s": ordered[-1], "n": len(ordered)}
