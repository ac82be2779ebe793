"""What DEL and GC of the veth plugins (bridge, overlay) share: an attachment is its veth pair, its
firewall state (tagged with its owner tag) and its IPAM reservation. Every step runs whatever
failed before it; the failures are reported together at the end (cni.kernel.undo.EveryStep)."""

from __future__ import annotations

from ..firewall import owner_tag
from ..kernel.links import deleting_link
from ..kernel.undo import EveryStep


def detach(request, firewall, kinds, release=None) -> None:
    """DEL: the container's veth goes (its host end with it) while the attachment's firewall state
    of each of `kinds` and then its address (`release()`, if given) go."""
    owner = owner_tag(request.config.name, request.container_id, request.ifname)
    with EveryStep() as steps, steps.guard(f"deleting {request.ifname}"), \
            deleting_link(request.netns, request.ifname):
        for kind in kinds:
            steps.run(f"removing the {kind} state", firewall.remove, owner, kind)
        if release is not None:  # after the firewall: a released address may be handed out at once
            steps.run("releasing the address (IPAM DEL)", release)

