"""The DNS records of one host: one file per attachment under $PYNET_STATE_DIR/dns/records/, written
whole (cni.files.write_atomic) by the dnsname plugin, read by the server when they change.

A file holds one container interface on one network: {"network", "gateways" (where the server
listens for that network), "domainName", "containerId", "ifname", "names" (name and aliases),
"addresses", each with its prefix length as in a CNI result: the network's subnets, whose
clients only are answered), "host" ("" for this host's; for a container on another host of an
overlay, that host's underlay address, and no gateways: cni.plugins.overlay.names mirrors those)}.
A network exists while it has attachments; its gateways and domain are the union of what they say.
`views()` turns them into what the server answers, one View per gateway address.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field

from ..context import getenv
from ..files import read_regular, write_atomic
from . import message as m

DEFAULT_STATE_DIR = "/var/lib/pynet"
TTL = 0  # seconds: as Podman's dnsname (dnsmasq's local-ttl); a restarted container's new address at once


def directory() -> str:
    """Where this host's records live."""
    return os.path.join(getenv("PYNET_STATE_DIR") or DEFAULT_STATE_DIR, "dns", "records")


@dataclass
class Attachment:
    network: str
    containerId: str
    ifname: str
    names: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    gateways: list[str] = field(default_factory=list)
    domainName: str = ""
    host: str = ""  # another host's (its underlay address) for an overlay peer's container

    def file_name(self) -> str:
        return file_name(self.network, self.containerId, self.ifname, self.host)


def file_name(network: str, container_id: str, ifname: str, host: str = "") -> str:
    key = json.dumps([network, container_id, ifname, *([host] if host else [])]).encode()
    return hashlib.sha256(key).hexdigest()[:32] + ".json"


def write(where: str, attachment: Attachment) -> None:
    """Register (or replace) an attachment's records."""
    data = json.dumps(asdict(attachment), sort_keys=True).encode()
    write_atomic(os.path.join(where, attachment.file_name()), data, dir_mode=0o755)


def remove(where: str, network: str, container_id: str, ifname: str, host: str = "") -> bool:
    """Forget an attachment's records; False if there were none."""
    try:
        os.unlink(os.path.join(where, file_name(network, container_id, ifname, host)))
        return True
    except FileNotFoundError:
        return False


def read(path: str) -> Attachment | None:
    """The attachment in file `path`, None if it is gone or not one (a stray or half-made file)."""
    try:
        return parse(json.loads(read_regular(path)))
    except (OSError, ValueError):
        return None


def parse(value) -> Attachment | None:
    """An attachment from its JSON form, None if `value` is not one."""
    try:
        attachment = Attachment(**value)
        for address in attachment.addresses:
            ipaddress.ip_interface(address)
        for address in attachment.gateways:
            ipaddress.ip_address(address)
        if not all(isinstance(n, str) for n in (attachment.network, attachment.domainName, attachment.host,
                                                attachment.containerId, attachment.ifname, *attachment.names)):
            return None
        return attachment
    except (ValueError, TypeError):
        return None


def served(attachments) -> bool:
    """Whether the attachments need a server here: some are this host's (a peer's add names only)."""
    return any(a.gateways for a in attachments)


def load(where: str, names=None, known: dict | None = None) -> dict[str, Attachment]:
    """The attachments by file name: all of them, or, with `names` (those changed) and `known` (what
    was loaded before), those re-read and the rest kept."""
    found = dict(known or {})
    if names is None:
        found = {}
        try:
            names = os.listdir(where)
        except FileNotFoundError:
            names = []
    for name in names:
        if name.startswith(".") or not name.endswith(".json"):
            continue  # write_atomic's temporary files
        attachment = read(os.path.join(where, name))
        if attachment is None:
            found.pop(name, None)
        else:
            found[name] = attachment
    return found


class View:
    """What the server answers on one gateway address: the names of its network(s) only."""

    def __init__(self, domains: set[bytes], host_ptr: set[bytes]) -> None:
        self.names: dict[bytes, dict[int, list[bytes]]] = {}  # wire name -> type -> rdata
        self.ptr: dict[bytes, list[bytes]] = {}
        self.domains = domains  # every served domain of the host: its names never go upstream
        self.host_ptr = host_ptr  # the PTR names of every container address of the host
        self.cache: dict[bytes, tuple] = {}  # the server's ready answers (rebuilt with the view)
        self.seen: dict[bytes, bytes] = {}  # and the same by whole query but its id
        self.subnets: set = set()  # where its clients are
        self.clients: set[str] = set()  # client addresses seen in them (the server's hot path)

    def admits(self, client: str) -> bool:
        """Whether `client` is on the view's network(s) (remembered for the next time)."""
        try:
            address = ipaddress.ip_address(client.split("%")[0])
        except ValueError:
            return False
        if any(address in subnet for subnet in self.subnets):
            if len(self.clients) < 1 << 16:
                self.clients.add(client)
            return True
        return False

    def add(self, attachment: Attachment) -> None:
        names = []
        for name in attachment.names:
            names.append(name)
            if attachment.domainName:
                names.append(f"{name}.{attachment.domainName}")
        wires = [w for w in map(_wire, names) if w]
        for interface in map(ipaddress.ip_interface, attachment.addresses):
            self.subnets.add(interface.network)
            address = str(interface.ip)
            rtype = m.AAAA if interface.version == 6 else m.A
            for wire in wires:
                self.names.setdefault(wire, {}).setdefault(rtype, []).append(m.rdata(rtype, address))
            if wires:
                self.ptr.setdefault(m.reverse_name(address), []).append(wires[1 if len(wires) > 1 else 0])

    def lookup(self, name: bytes, qtype: int) -> tuple[int, list] | None:
        """(rcode, answers) for a lowercased wire name, or None: not ours, ask upstream."""
        found = self.names.get(name)
        if found is not None:
            types = (m.A, m.AAAA) if qtype == m.ANY else (qtype,)
            return m.NOERROR, [(t, data) for t in types for data in found.get(t, ())]
        ptr = self.ptr.get(name)
        if ptr is not None:
            return m.NOERROR, [(m.PTR, data) for data in ptr] if qtype in (m.PTR, m.ANY) else []
        if (name[0] and name[name[0] + 1] == 0) or name in self.host_ptr or any(name.endswith(d) for d in self.domains):
            return m.NXDOMAIN, []  # a single label, a name of our domains, another network's address
        return None


def _wire(name: str) -> bytes | None:
    try:
        return m.encode_name(name)
    except (ValueError, UnicodeError):
        return None


def views(attachments) -> dict[str, View]:
    """A View per gateway address, from the attachments."""
    attachments = list(attachments)
    domains = {_wire(a.domainName) for a in attachments if a.domainName} - {None, b"\0"}
    host_ptr = {m.reverse_name(address.split("/")[0]) for a in attachments for address in a.addresses}
    by_network: dict[str, list[Attachment]] = {}
    for attachment in attachments:
        by_network.setdefault(attachment.network, []).append(attachment)
    found: dict[str, View] = {}
    for members in by_network.values():
        for gateway in sorted({str(ipaddress.ip_address(g)) for a in members for g in a.gateways}):
            view = found.setdefault(gateway, View(domains, host_ptr))
            for attachment in members:
                view.add(attachment)
    return found

