"""An overlay's records in the store: the network's registration and the hosts' subnet leases.

<prefix>/networks/<name>          {"network", "vni", "subnetLen", "port", "encrypt" (only if true)}  (no TTL)
<prefix>/leases/<name>/<a.b.c.d-len>  {"subnet", "underlay", "vtepMac", "hostname", "wgKey" (encrypted:
                                       the host's WireGuard public key)}  (TTL: leaseTTL)

A host is its underlay address: its lease is the one whose `underlay` is that address.
"""

from __future__ import annotations

import ipaddress
import socket

from ...spec import CNIError
from ...spec import errors
from ...spec.errors import invalid_config


def open_store(conf):
    """The store a StoreConf describes: a FileStore, or an EtcdStore (etcd.py, imported only then)."""
    if conf.type == "file":
        from .store import FileStore

        return FileStore(conf.path)
    from .etcd import EtcdStore

    return EtcdStore(conf.endpoints, conf.cacert, conf.cert, conf.key)


def network_key(conf, name: str | None = None) -> str:
    return f"{conf.store.prefix}/networks/{name or conf.name}"


def leases_prefix(conf) -> str:
    return f"{conf.store.prefix}/leases/{conf.name}/"


def lease_key(conf, subnet: str) -> str:
    return leases_prefix(conf) + subnet.replace("/", "-")


def vtep_mac(underlay: str, vni: int) -> str:
    """The VXLAN device's MAC: locally administered, from the VNI and the underlay address, so a
    recreated device keeps it and peers' entries stay right."""
    return ":".join(f"{b:02x}" for b in (0x02, vni & 0xFF, *ipaddress.IPv4Address(underlay).packed))


def vtep_ip(subnet: str) -> str:
    """A host's VTEP address: its subnet's network address (as Flannel does)."""
    return str(ipaddress.IPv4Network(subnet).network_address)


def register(store, conf):
    """Record the network, refusing one that overlaps another overlay's or reuses its VNI. Returns
    the undo of what it wrote (for a failed ADD), or None if the store held the record already."""
    mine = {"network": str(conf.network), "vni": conf.vni, "subnetLen": conf.subnet_len, "port": conf.port,
            **({"encrypt": True} if conf.encrypt else {})}
    for _ in range(3):
        registered = store.list(f"{conf.store.prefix}/networks/")
        for key, other in registered.items():
            name = key.rsplit("/", 1)[1]
            if name == conf.name:
                continue
            if ipaddress.IPv4Network(other["network"]).overlaps(conf.network):
                raise invalid_config("network overlaps another overlay",
                                     f"{conf.network} overlaps {other['network']} of overlay {name!r}; "
                                     "choose a network of its own")
            if other["vni"] == conf.vni:
                raise invalid_config("vni taken", f"vni {conf.vni} is overlay {name!r}'s; choose another vni")
        current = registered.get(network_key(conf))
        if current == mine:
            return None
        if current is None:
            if store.create(network_key(conf), mine):
                return lambda: _unregister(store, conf, None)
            continue  # another host registered it meanwhile: compare again
        if leases(store, conf) and current.get("encrypt", False) != conf.encrypt:
            which = "encrypted" if current.get("encrypt") else "not encrypted"
            raise invalid_config(f"overlay {conf.name!r} is {which} on the other hosts",
                                 f"a network is encrypted on every host or on none: set \"encrypt\": "
                                 f"{str(bool(current.get('encrypt'))).lower()} here, or change it only after every "
                                 "host has left")
        if leases(store, conf):
            raise invalid_config(f"overlay {conf.name!r} is registered with other settings",
                                 f"the store has {current}, this configuration says {mine}; hosts still hold "
                                 "leases, so change it only after every host has left")
        store.put(network_key(conf), mine)
        return lambda: _unregister(store, conf, current)
    raise CNIError(errors.TRY_AGAIN_LATER, "the overlay's registration keeps changing", "try again")


def _unregister(store, conf, previous: dict | None) -> None:
    """Undo a registration: the record as it was (none, or `previous`), unless a host holds a lease
    of the network meanwhile (it joined with the record as written)."""
    if leases(store, conf):
        return
    if previous is None:
        store.delete(network_key(conf))
    else:
        store.put(network_key(conf), previous)


def leases(store, conf) -> dict[str, dict]:
    """Live leases of the network: {subnet: record}."""
    return {r["subnet"]: r for r in store.list(leases_prefix(conf)).values() if "subnet" in r}


def take_lease(store, conf, underlay: str, prefer: str = "", public_key: str = "") -> tuple[dict, bool]:
    """This host's lease: renewed if it holds one, else `prefer` (the subnet it held before, whose
    lease expired) if free, else the first free subnet, taken by compare-and-set; with `public_key`
    (an encrypted network), the record carries it as wgKey. Returns (record, whether it is new)."""
    key = {"wgKey": public_key} if public_key else {}
    for _ in range(10):
        current = leases(store, conf)
        own = [r for r in current.values() if r["underlay"] == underlay]
        if own:
            record = own[0]
            wanted = {**record, "vtepMac": vtep_mac(underlay, conf.vni), **key}
            if wanted != record:
                store.put(lease_key(conf, record["subnet"]), wanted, conf.lease_ttl)
            elif not store.refresh(lease_key(conf, record["subnet"]), conf.lease_ttl):
                continue  # expired just now: take one afresh
            return wanted, False
        taken = {ipaddress.IPv4Network(s) for s in current}
        candidates = conf.network.subnets(new_prefix=conf.subnet_len)
        previous = ipaddress.IPv4Network(prefer) if prefer else None
        if previous and previous not in taken and previous.subnet_of(conf.network) \
                and previous.prefixlen == conf.subnet_len:
            candidates = [previous]
        free = next((s for s in candidates if s not in taken), None)
        if free is None:
            holders = ", ".join(f"{s} ({r['underlay']})" for s, r in sorted(current.items()))
            raise CNIError(errors.ADDRESSES_EXHAUSTED, f"no free /{conf.subnet_len} left in {conf.network}",
                           f"every host subnet is leased: {holders}; use a larger network or a longer subnetLen")
        record = {"subnet": str(free), "underlay": underlay, "vtepMac": vtep_mac(underlay, conf.vni),
                  "hostname": socket.gethostname(), **key}
        if store.create(lease_key(conf, record["subnet"]), record, conf.lease_ttl):
            return record, True
    raise CNIError(errors.TRY_AGAIN_LATER, "could not take a subnet lease", "other hosts kept taking the same one")


def release(store, conf, subnet: str) -> None:
    store.delete(lease_key(conf, subnet))
