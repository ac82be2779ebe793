"""The firewall layer: one contract (`Firewall`, in cni.firewall.contract), one driver per backend.

Every rule or set element pynet adds is tagged with its owner (network, container id, ifname), so a
container's state is removed exactly; a network's own elements (its subnets, its bridge's isolation)
leave with its last attachment, decided under one lock per network namespace (`lock.host_lock`), so
a concurrent ADD of the same network cannot lose them. pynet's own rules live in pynet's own table or
chains, and with nothing of pynet's left those are gone too: the host's firewall is as it was.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING as it is at run time, without importing typing
if TYPE_CHECKING:
    from .contract import Firewall

# What a firewall change is about, so one attachment's kinds can be removed separately.
MASQUERADE = "masquerade"
PORTS = "ports"
FORWARD = "forward"
ICC = "icc"


def __getattr__(name: str):
    """The contract (`Firewall`, `Undo`) is a typing.Protocol in cni.firewall.contract, loaded only
    when asked for: importing typing is ~10 ms of a cold plugin start."""
    if name in ("Firewall", "Undo"):
        from . import contract

        return getattr(contract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _digest(text: str, length: int) -> str:
    import hashlib  # rarely needed: not on every plugin start

    return hashlib.sha256(text.encode()).hexdigest()[:length]


def network_label(network: str) -> str:
    """The network as it appears in tags: its name, or for a long one a prefix and a digest (nft
    comments are limited to 128 bytes); never contains "/"."""
    return network if len(network) <= 40 else f"{network[:31]}~{_digest(network, 8)}"


def owner_tag(network: str, container_id: str, ifname: str) -> str:
    """A short, exact tag for one attachment: "<network label>/<container id>/<ifname>"."""
    label = network_label(network)
    tag = f"{label}/{container_id}/{ifname}"
    if len(tag) > 100:
        tag = f"{label}/{_digest(tag, 32)}/{ifname}"
    return tag


def network_of(tag: str) -> str:
    """The network label of an owner tag ("" if `tag` is not one)."""
    return tag.split("/", 1)[0] if tag.count("/") >= 2 else ""


def host_port(mapping: dict) -> str:
    """A published port as people read it: "HOST_IP:PORT/PROTOCOL" ("*" for any host address)."""
    return f"{mapping['host_ip'] or '*'}:{mapping['host_port']}/{mapping['protocol']}"


def mapping_text(mapping: dict) -> str:
    """A port mapping as people read it: "*:8080/tcp -> 10.0.0.2:80"."""
    address = mapping["address"]
    return f"{host_port(mapping)} -> {f'[{address}]' if ':' in address else address}:{mapping['container_port']}"


def driver(name: str = "") -> Firewall:
    """The firewall driver called `name` (a firewallBackend: "nftables", "iptables" or "none"; ""
    picks the default), validated as cni.spec.config.firewall_backend does (code 7)."""
    from ..spec.config import firewall_backend

    name = firewall_backend(name) or "nftables"
    if name == "iptables":
        from .iptables import Iptables

        return Iptables()
    if name == "none":
        from .none import NoFirewall

        return NoFirewall()
    from .nftables import Nftables

    return Nftables()
