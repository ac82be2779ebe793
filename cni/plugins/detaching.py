"""What DEL and GC of the veth plugins (bridge, overlay) share: an attachment is its veth pair, its
firewall state (tagged with its owner tag) and its IPAM reservation. Every step runs whatever
failed before it; the failures are reported together at the end (cni.kernel.undo.EveryStep)."""

from __future__ import annotations

from ..firewall import network_label, network_of, owner_tag, valid_owners
from ..ipam import delegate
from ..kernel.links import delete_link, deleting_link, link_index, netlink, ports_of
from ..kernel.undo import EveryStep
from .bridging import VETH_PREFIX


def detach(request, firewall, release=None) -> None:
    """DEL: the container's veth goes (its host end with it) while the attachment's firewall state
    (with the network's last attachment, the network's own) and then its address (`release()`, if
    given) go."""
    network = request.config.name
    owner = owner_tag(network, request.container_id, request.ifname)
    with EveryStep() as steps, steps.guard(f"deleting {request.ifname}"), \
            deleting_link(request.netns, request.ifname):
        steps.run("removing the firewall state", firewall.release, network, owner, request.prev_addresses())
        if release is not None:  # after the firewall: a released address may be handed out at once
            steps.run("releasing the address (IPAM DEL)", release)


def collect_garbage(request, bridge: str, firewall, ipam_request=None, own_ipam: bool = False) -> None:
    """GC (CNI 1.1.0): every attachment of the network that is not in cni.dev/valid-attachments loses
    its host veth, its firewall state and its IPAM reservation (the IPAM plugin's own GC).
    Attachments are found by their host veths on `bridge` (alias: the owner tag, set at ADD), by the
    firewall's state and by the IPAM plugin's reservations (their container may be gone, and its
    veth with it). With no valid attachment, the firewall forgets the network (`pynet network rm`
    runs such a GC)."""
    network = request.config.name
    valid = valid_owners(request.config)
    ipam_request = ipam_request or request
    with EveryStep() as steps:
        veths: dict[str, str] = {}
        with steps.guard(f"listing the ports of {bridge}"):
            label = network_label(network)
            veths = {tag: name for tag, name in _tagged_ports(bridge).items() if network_of(tag) == label}
        stale = set(veths) - valid
        with steps.guard("listing the firewall state"):
            stale |= firewall.owners(network) - valid
        if ipam_request.config.ipam:
            with steps.guard("listing the IPAM reservations"):
                stale |= {owner_tag(network, cid, ifname) for cid, ifname in delegate.holders(ipam_request)} - valid
        for owner in sorted(stale):
            if owner in veths:
                with steps.guard(f"deleting {veths[owner]}"), netlink() as host:
                    delete_link(host, veths[owner])
            steps.run(f"removing the firewall state of {owner}", firewall.release, network, owner)
        if not valid:  # no attachment left: the network's own elements go too (whatever left them)
            steps.run("removing the network's firewall state", firewall.forget_network, network)
        if ipam_request.config.ipam:  # the IPAM plugin frees what is not valid (spec: GC is passed on)
            steps.run("IPAM GC", delegate.call, ipam_request, "GC", own_ipam)


def _tagged_ports(bridge: str) -> dict[str, str]:
    """The pynet veths on `bridge` that carry an owner tag: {tag: veth name}."""
    with netlink() as host:
        index = link_index(host, bridge)
        ports = ports_of(host, index) if index is not None else []
    return {port.alias: port.name for port in ports if port.name.startswith(VETH_PREFIX) and port.alias}

