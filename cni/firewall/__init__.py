"""The firewall layer: one interface, one driver per backend.

Every rule or set element pynet adds is tagged with its owner (network, container id, ifname), so a
container's state is removed exactly; everything lives in pynet's own table or chains, so removing
them leaves the host's firewall as it was.
"""

from __future__ import annotations

# What a firewall change is about, so one attachment's kinds can be removed separately.
MASQUERADE = "masquerade"
PORTS = "ports"
FORWARD = "forward"
ICC = "icc"


def owner_tag(network: str, container_id: str, ifname: str) -> str:
    """A short, exact tag for one attachment (nft comments are limited to 128 bytes)."""
    tag = f"{network}/{container_id}/{ifname}"
    if len(tag) > 100:
        import hashlib  # rarely needed: not on every plugin start

        tag = f"{network[:40]}/{hashlib.sha256(tag.encode()).hexdigest()[:32]}/{ifname}"
    return tag


def driver(name: str = ""):
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
