"""`pynet overlay member --network NAME` (alias `overlay agent`): this host's member daemon, its
control plane for one overlay (foreground, for systemd or a lab). Not the resident plugin agent
(cni.agent): this one keeps the host's membership of the overlay alive.

Every `interval` seconds, under the host's overlay lock: read the lease this host joined with
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
from .fabric import sync, wanted_entries


class Membership:
    """This host's membership of overlay `name`: its lease renewed, its entries for the others in sync."""

    def __init__(self, name: str, interval: float = 0.5) -> None:
        self.name = name
        self.state_dir = state_dir_of(name)
        self.interval = interval
        self.stopping = threading.Event()
        self._renewed = 0.0

    def renew(self, store, conf, state: dict) -> None:
        if time.monotonic() - self._renewed < max(conf.lease_ttl / 3, self.interval):
            return
        key = lease_key(conf, state["subnet"])
        holder = store.list(key).get(key)
        if holder is not None and holder.get("underlay") != state["underlay"]:
            logger().error("overlay %s: lease %s expired and %s holds it now; this host's containers clash with "
                           "its: re-add them", self.name, state["subnet"], holder.get("underlay"))
        elif holder is None or not store.refresh(key, conf.lease_ttl):
            record = {"subnet": state["subnet"], "underlay": state["underlay"],
                      "vtepMac": state.get("vtepMac", ""), "hostname": state.get("hostname", "")}
            if store.create(key, record, conf.lease_ttl):
                logger().warning("overlay %s: lease %s had expired; taken again", self.name, state["subnet"])
        self._renewed = time.monotonic()

    def step(self) -> list[str]:
        """One pass; returns the entry changes made."""
        with local.locked(self.state_dir):
            state = local.read(self.state_dir)
            if state is None:
                self._renewed = 0.0
                names.forget(self.name, records.directory())
                return []
            conf = from_state(state, self.state_dir)
            store = open_store(conf.store)
            self.renew(store, conf, state)
            wanted = wanted_entries(leases(store, conf), state["subnet"])
            with netlink() as host:
                changes = sync(host, conf.device, conf.network, wanted)
            return changes + names.sync(store, conf, state["underlay"], records.directory())

    def run(self) -> int:
        import logging

        log = logger()
        if log.level > logging.INFO:
            log.setLevel(logging.INFO)  # a daemon says what it does
        log.info("overlay member daemon for %s started (state in %s)", self.name, self.state_dir)
        while not self.stopping.is_set():
            try:
                changes = self.step()
                if changes:
                    log.info("overlay %s: %s", self.name, ", ".join(changes))
            except CNIError as e:  # store down, say: keep the entries as they are and retry
                log.error("overlay %s: %s", self.name, e)
            self.stopping.wait(self.interval)
        log.info("overlay member daemon for %s stopped", self.name)
        return 0


def run(name: str, interval: float) -> int:
    member = Membership(name, interval)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: member.stopping.set())
    return member.run()
