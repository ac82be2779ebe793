"""An overlay's names across its hosts, as in Docker's overlay: each host's DNS records of the
network (the dnsname plugin's, cni.dns.records) travel through the overlay's store, and every
host's DNS server answers the other hosts' containers too.

<prefix>/names/<name>/<underlay>/<record file name>   {"names", "addresses", "domainName", "containerId", "ifname"}

sync() makes the store hold exactly this host's records of the network, and this host's records
directory hold, as peers' records (`host` set, no gateways: names, not listeners), those of every
other host with a live lease. A host whose lease is gone (it left, or its lease expired) has its
names dropped from the store and everywhere else. The dnsname plugin syncs after its ADD and DEL,
the member daemon on every pass (which also repairs what a store outage made ADD or DEL miss).
"""

from __future__ import annotations

from ...dns import records
from . import local
from .cluster import leases, open_store
from .config import from_state, state_dir_of

SHARED = ("names", "addresses", "domainName", "containerId", "ifname")  # what other hosts need of a record


def names_prefix(conf, underlay: str = "") -> str:
    return f"{conf.store.prefix}/names/{conf.name}/" + (f"{underlay}/" if underlay else "")


def _attachments(where: str, network: str) -> tuple[dict, dict]:
    """The network's records on this host, by file name: (this host's own, the peers')."""
    found = [(n, a) for n, a in records.load(where).items() if a.network == network]
    return {n: a for n, a in found if not a.host}, {n: a for n, a in found if a.host}


def _peer(network: str, underlay: str, value) -> records.Attachment | None:
    if not isinstance(value, dict):
        return None
    return records.parse({k: value[k] for k in SHARED if k in value} | {"network": network, "host": underlay})


def sync(store, conf, underlay: str, where: str) -> list[str]:
    """One reconciliation of the network's names (see the module docstring); returns the changes."""
    changes = []
    prefix, own_prefix = names_prefix(conf), names_prefix(conf, underlay)
    stored = store.list(prefix)
    own, have = _attachments(where, conf.name)
    mine = {own_prefix + n: {k: getattr(a, k) for k in SHARED} for n, a in own.items()}
    for key, value in mine.items():
        if stored.get(key) != value:
            store.put(key, value)
            changes.append(f"names {value['names']} published")
    live = {lease["underlay"] for lease in leases(store, conf).values()}
    wanted: dict[str, records.Attachment] = {}
    for key, value in stored.items():
        peer_underlay = key[len(prefix):].split("/", 1)[0]
        if key.startswith(own_prefix):
            if key not in mine:
                store.delete(key)  # this host's container is gone
        elif peer_underlay not in live:
            store.delete(key)  # a host gone with its lease
        elif (peer := _peer(conf.name, peer_underlay, value)) is not None:
            wanted[peer.file_name()] = peer
    for name, peer in wanted.items():
        if have.get(name) != peer:
            records.write(where, peer)
            changes.append(f"names {peer.names} of {peer.host} added")
    for name in have.keys() - wanted.keys():
        records.remove(where, conf.name, have[name].containerId, have[name].ifname, have[name].host)
        changes.append(f"names {have[name].names} of {have[name].host} removed")
    return changes


def forget(network: str, where: str) -> None:
    """The peers' records of the network go from this host (it left the overlay)."""
    for peer in _attachments(where, network)[1].values():
        records.remove(where, network, peer.containerId, peer.ifname, peer.host)


def withdraw(store, conf, underlay: str) -> None:
    """This host's names of the network go from the store (it leaves the overlay)."""
    for key in store.list(names_prefix(conf, underlay)):
        store.delete(key)


def after_change(network: str) -> None:
    """The dnsname plugin changed this host's records of `network`: if it is an overlay this host is
    on, sync its names with the store now (under the host's overlay lock, as the member daemon does).
    A store that does not answer is a CNIError (the caller decides: ADD rolls back, DEL logs)."""
    state_dir = state_dir_of(network)
    if local.read(state_dir) is None:
        return  # not an overlay, or this host is not on it
    with local.locked(state_dir):
        state = local.read(state_dir)
        if state is not None:
            conf = from_state(state, state_dir)
            sync(open_store(conf.store), conf, state["underlay"], records.directory())
