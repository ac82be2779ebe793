"""The firewall layer: one contract (`Firewall`), one driver per backend.

Every rule or set element pynet adds is tagged with its owner (network, container id, ifname), so a
container's state is removed exactly; a network's own elements (its subnets, its bridge's isolation)
leave with its last attachment, decided under one lock per network namespace (`lock.host_lock`), so
a concurrent ADD of the same network cannot lose them. pynet's own rules live in pynet's own table or
chains, and with nothing of pynet's left those are gone too: the host's firewall is as it was.
"""

from __future__ import annotations

from typing import Callable, Protocol

# What a firewall change is about, so one attachment's kinds can be removed separately.
MASQUERADE = "masquerade"
PORTS = "ports"
FORWARD = "forward"
ICC = "icc"

Undo = Callable[[], None]


class Firewall(Protocol):
    """What pynet asks of a firewall, in words of what it means. Every add returns the undo of
    exactly that change (for the undo log)."""

    name: str

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]) -> Undo:
        """Masquerade traffic from `addresses` leaving for anywhere but pynet's `subnets`."""

    def add_port_mappings(self, owner: str, mappings: list[dict]) -> Undo:
        """Publish host ports (code 106 if one is taken, changing nothing)."""

    def allow_forwarding(self, owner: str, addresses: list[str]) -> Undo:
        """Let traffic from `addresses` (and its replies) through a host whose forward path is closed."""

    def isolate_bridge(self, network: str, owner: str, bridge: str, peers: tuple[str, ...] = ()) -> Undo:
        """No forwarding between `bridge` (with `peers`, links of the same network) and other
        isolated bridges, while the network has attachments."""

    def deny_icc(self, owner: str, port: str) -> Undo:
        """No IP traffic between `port` and other such bridge ports (`icc: false`)."""

    def remove(self, owner: str, kind: str, expected=None) -> None:
        """Remove what `owner` has of one kind; nothing if it has none. `expected`: what the ADD was
        given (addresses; for PORTS the mappings), if known: a driver may find the state by it."""

    def release(self, network: str, owner: str, expected=None) -> None:
        """The attachment is gone: remove everything `owner` has and, if it was the network's last,
        the network's own elements; with nothing of pynet's left, pynet's table(s) and chains.
        `expected`: the attachment's addresses (prevResult's), if known."""

    def owners(self, network: str) -> set[str]:
        """The owner tags of the network's attachments the firewall holds state for (for GC)."""

    def forget_network(self, network: str) -> None:
        """The network is deleted: release every attachment of it that is left."""

    def owned(self, owner: str, kind: str) -> set[str]:
        """`owner`'s state of one kind, as "set: key" (for CHECK)."""

    def missing(self, owner: str, kind: str, addresses: list[str]) -> list[str]:
        """What of `addresses` lacks the state of `kind` that ADD gave it (for CHECK)."""


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


def driver(name: str = "") -> Firewall:
    """The firewall driver called `name` ("nftables", "iptables" or "none"; "" picks the default)."""
    from ..spec.errors import invalid_config

    name = name or "nftables"
    if name == "nftables":
        from .nftables import Nftables

        return Nftables()
    if name == "iptables":
        from .iptables import Iptables

        return Iptables()
    if name == "none":
        from .none import NoFirewall

        return NoFirewall()
    raise invalid_config("invalid firewallBackend", f"{name!r}: use \"nftables\", \"iptables\" or \"none\"")
