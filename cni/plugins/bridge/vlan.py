"""VLANs on a bridge with VLAN filtering: a port's access VLAN (PVID, untagged) and trunk VLANs
(tagged), and the gateway of a VLAN (a veth `<bridge>.<vid>` whose bridge end is in that VLAN),
as the reference bridge plugin does them."""

from __future__ import annotations

import errno

from ...kernel.links import (NetlinkError, attach_port, bridge_vlan, create_veth, delete_link, enable_vlan_filtering,
                             link_index, set_up, vlan_filtering)
from ...kernel.undo import UndoLog
from ...spec import CNIError
from ...spec import errors
from ..bridging import veth_name
from .config import BridgeConf

DEFAULT_VLAN = 1
NO_FILTERING = ("this kernel's bridge has no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), which vlan and "
                "vlanTrunk need")


def require_filtering(ipr, index: int, conf: BridgeConf, created: bool) -> None:
    """VLAN filtering on the bridge: switched on when pynet just created it; an existing bridge
    without it is left alone (its other ports would change) and refused."""
    if vlan_filtering(ipr, index):
        return
    if not created:
        raise CNIError(errors.INVALID_CONFIG, f"bridge {conf.bridge} has no VLAN filtering",
                       "vlan and vlanTrunk need a bridge with vlan_filtering on; use another bridge name, "
                       f"or `ip link set {conf.bridge} type bridge vlan_filtering 1`")
    try:
        enable_vlan_filtering(ipr, index)
    except NetlinkError as e:
        if e.code in (errno.EOPNOTSUPP, errno.EINVAL):
            raise CNIError(errors.KERNEL, NO_FILTERING, f"setting vlan_filtering on {conf.bridge}: "
                                                        f"{errno.errorcode.get(e.code, e.code)}") from None
        raise


def configure_port(ipr, port: int, vlan: int, trunk: tuple[int, ...], preserve_default: bool) -> None:
    """The port's VLANs: `vlan` as PVID untagged, `trunk` tagged; VLAN 1 removed unless kept
    (with a trunk and no access VLAN, VLAN 1 stays the native one)."""
    if not preserve_default:
        _vlan(ipr, "del", port, DEFAULT_VLAN)
    if vlan:
        _vlan(ipr, "add", port, vlan, access=True)
    for vid in trunk:
        _vlan(ipr, "add", port, vid)
    if not vlan and trunk:
        _vlan(ipr, "add", port, DEFAULT_VLAN, access=True)


def _vlan(ipr, command: str, port: int, vid: int, access: bool = False) -> None:
    try:
        bridge_vlan(ipr, command, port, vid, access)
    except NetlinkError as e:
        if command == "del" and e.code in (errno.ENOENT, errno.EINVAL):
            return  # not there: nothing to remove
        raise CNIError(errors.KERNEL, f"cannot {command} VLAN {vid} on the bridge port",
                       errno.errorcode.get(e.code, str(e.code))) from None


def gateway_link(ipr, bridge: int, conf: BridgeConf, undo: UndoLog) -> tuple[str, int]:
    """The host's interface in VLAN `conf.vlan` that carries the gateway address: a veth
    `<bridge>.<vid>` whose other end is an access port of that VLAN (made once, then shared)."""
    name = f"{conf.bridge}.{conf.vlan}"
    if len(name) > 15:
        raise CNIError(errors.INVALID_CONFIG, f"the VLAN gateway interface {name} would be too long",
                       "with vlan and isGateway the host names an interface <bridge>.<vlan>; use a bridge name "
                       f"of at most {14 - len(str(conf.vlan))} characters")
    index = link_index(ipr, name)
    if index is not None:
        return name, index
    peer = veth_name(ipr)
    create_veth(ipr, name, peer, None, conf.mtu)
    undo.done(f"VLAN gateway {name}", lambda: delete_link(ipr, name))
    peer_index = link_index(ipr, peer)
    attach_port(ipr, peer_index, bridge, conf.mtu)  # up, but no traffic before its other end is
    configure_port(ipr, peer_index, conf.vlan, (), conf.preserve_default_vlan)
    index = link_index(ipr, name)
    set_up(ipr, index)
    return name, index
