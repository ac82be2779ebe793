"""The contract every firewall driver keeps (cni.firewall.driver() returns one), in words of what it
means. A module of its own: typing is loaded only where the contract is asked for, not on every
plugin start."""

from __future__ import annotations

from typing import Callable, Protocol

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

    def missing(self, owner: str, kind: str, expected: list) -> list[str]:
        """What of `expected` lacks the state of `kind` that ADD gave `owner` (for CHECK), as people
        read it: the addresses without their masquerade (MASQUERADE) or an accept where the forward
        path is closed (FORWARD); for PORTS, `expected` is the mappings, and each one not published
        is described ("*:8080/tcp -> 10.0.0.2:80")."""
