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

from .terms import (FORWARD, ICC, MASQUERADE, PORTS, host_port, mapping_text, network_label, network_of, owner_tag,
                    valid_owners)

__all__ = ["FORWARD", "ICC", "MASQUERADE", "PORTS", "collect", "driver", "host_port", "mapping_text",
           "network_label", "network_of", "owner_tag", "valid_owners"]


def __getattr__(name: str):
    """The contract (`Firewall`, `Undo`) is a typing.Protocol in cni.firewall.contract, loaded only
    when asked for: importing typing is ~10 ms of a cold plugin start."""
    if name in ("Firewall", "Undo"):
        from . import contract

        return getattr(contract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def collect(firewall: Firewall, conf, kind: str) -> None:
    """GC of one plugin's state (`kind`): what the network's attachments that are not in
    cni.dev/valid-attachments (`conf`: the GC's cni.spec NetConf) hold of it goes."""
    for owner in sorted(firewall.owners(conf.name) - valid_owners(conf)):
        firewall.remove(owner, kind)
