"""`pynet overlay member --network NAME` (alias `overlay agent`): this host's member daemon, its
control plane for one overlay (foreground, for systemd or a lab). Not the resident plugin agent
(cni.agent): this one keeps the host's membership of the overlay alive.

A pass whenever the overlay's records change in the store (its watch: etcd's, or inotify on the
file store), and at least every `interval` seconds (INTERVALS: a lease whose TTL runs out in a file
store is no event), under the host's overlay lock: read the lease this host joined with
(lease.json; none yet or any more → idle), renew its TTL every third of the TTL (taking the same
subnet again if it expired meanwhile), and make the VXLAN device's route/neighbour/FDB entries match
the other hosts' live leases, so hosts that join, change address or leave (explicitly, or by
their lease's TTL running out) show up or disappear; and the same for their containers' names
(names.sync). Stopping the daemon changes nothing on the
host: containers keep working, and a restarted one takes over the same lease.
"""

from __future__ import annotations

import signal
import threading
import time

from ...dns import records
from ...kernel.links import netlink
from ...log import logger
from ...spec import CNIError
from . import local, names
from .cluster import lease_key, leases, open_store
from .config import from_state, state_dir_of
from .fabric import apply, entries


INTERVALS = {"file": 0.5, "etcd": 5.0}  # seconds between passes at most, by store type (--interval: all)


class Stop(Exception):
    """SIGTERM or SIGINT: out of a pass or a watch at once."""


class Membership:
    """This host's membership of overlay `name`: its lease renewed, its entries for the others in sync."""

    def __init__(self, name: str, interval: float | None = None) -> None:
        self.name = name
        self.state_dir = state_dir_of(name)
        self.interval = interval
        self.stopping = threading.Event()
        self._renewed = 0.0
        self._store = None  # (StoreConf, store) of the last pass: a watch goes on from what it read
        self._renew_every = 0.0

    def _open(self, conf):
        if self._store is None or self._store[0] != conf.store:
            self._store = (conf.store, open_store(conf.store))
        return self._store[1]

    def wait(self) -> None:
        """Until the overlay's records change, the lease is due for renewal, or the interval is up."""
        if self._store is None:
            self.stopping.wait(self.interval or INTERVALS["file"])
            return
        conf, store = self._store
        timeout = self.interval or INTERVALS[conf.type]
        if self._renew_every:
            timeout = min(timeout, max(0.05, self._renewed + self._renew_every - time.monotonic()))
        store.watch(conf.prefix + "/", timeout)

    def renew(self, store, conf, state: dict) -> None:
        self._renew_every = conf.lease_ttl / 3
        if time.monotonic() - self._renewed < self._renew_every:
            return
        key = lease_key(conf, state["subnet"])
        holder = store.list(key).get(key)
        if holder is not None and holder.get("underlay") != state["underlay"]:
            logger().error("overlay %s: lease %s expired and %s holds it now; this host's containers clash with "
                           "its: re-add them", self.name, state["subnet"], holder.get("underlay"))
        elif holder is None or not store.refresh(key, conf.lease_ttl):
            record = {"subnet": state["subnet"], "underlay": state["underlay"],
                      "vtepMac": state.get("vtepMac", ""), "hostname": state.get("hostname", ""),
                      **({"wgKey": state["wgKey"]} if state.get("wgKey") else {})}
            if store.create(key, record, conf.lease_ttl):
                logger().warning("overlay %s: lease %s had expired; taken again", self.name, state["subnet"])
        self._renewed = time.monotonic()

    def step(self) -> list[str]:
        """One pass; returns the entry changes made."""
        with local.locked(self.state_dir):
            state = local.read(self.state_dir)
            if state is None:
                self._renewed, self._store = 0.0, None
                names.forget(self.name, records.directory())
                return []
            conf = from_state(state, self.state_dir)
            store = self._open(conf)
            self.renew(store, conf, state)
            wanted = entries(conf, leases(store, conf), state["subnet"])
            with netlink() as host:
                changes = apply(host, conf, wanted)
            return changes + names.sync(store, conf, state["underlay"], records.directory())

    def run(self) -> int:
        import logging

        log = logger()
        if log.level > logging.INFO:
            log.setLevel(logging.INFO)  # a daemon says what it does
        log.info("overlay member daemon for %s started (state in %s)", self.name, self.state_dir)
        try:
            while not self.stopping.is_set():
                try:
                    changes = self.step()
                    if changes:
                        log.info("overlay %s: %s", self.name, ", ".join(changes))
                except CNIError as e:  # store down, say: keep the entries as they are and retry
                    log.error("overlay %s: %s", self.name, e)
                self.wait()
        except Stop:
            pass
        log.info("overlay member daemon for %s stopped", self.name)
        return 0


def run(name: str, interval: float | None) -> int:
    member = Membership(name, interval)

    def stop(*_) -> None:
        member.stopping.set()
        raise Stop

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    return member.run()
