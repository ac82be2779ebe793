"""The bridge plugin's configuration (compatible with the reference bridge's keys). No I/O."""

from __future__ import annotations

from ...spec.record import record

from ...spec import CNIError, Request
from ...spec import errors
from ...spec.env import check_ifname
from ...spec.errors import invalid_config
from ...spec.mac import unicast_mac

NOT_YET = ("macspoofchk", "disableContainerInterface")


@record
class BridgeConf:
    bridge: str = "cni0"
    is_gateway: bool = False
    is_default_gateway: bool = False
    force_address: bool = False
    ip_masq: bool = False
    mtu: int = 0
    hairpin: bool = False
    promisc: bool = False
    enable_dad: bool = False
    mac: str = ""
    firewall_backend: str = ""
    isolation: bool = False  # pynet: no traffic with other isolated networks (Docker's default)
    icc: bool = True  # pynet: `false` blocks traffic between containers of this network
    vlan: int = 0  # the port's access VLAN (PVID, untagged); 0: none
    vlan_trunk: tuple[int, ...] = ()  # VLANs the port carries tagged
    preserve_default_vlan: bool = False  # keep VLAN 1 on the port when VLANs are configured

    @property
    def vlan_filtering(self) -> bool:
        return bool(self.vlan or self.vlan_trunk)


def _vlan_id(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4094:
        raise invalid_config(f"invalid {what}", f"{value!r}: a VLAN ID is a number from 1 to 4094")
    return value


def vlan_trunk(items) -> tuple[int, ...]:
    """The sorted VLAN IDs of a vlanTrunk list ({"id": N} and {"minID": A, "maxID": B} entries)."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise invalid_config("invalid vlanTrunk", "vlanTrunk is a list of {\"id\": N} or {\"minID\": A, \"maxID\": B}")
    vids: set[int] = set()
    for item in items:
        if not isinstance(item, dict):
            raise invalid_config("invalid vlanTrunk", f"{item!r} is not an object")
        low, high = item.get("minID"), item.get("maxID")
        if (low is None) != (high is None):
            raise invalid_config("invalid vlanTrunk", f"{item!r}: minID and maxID go together")
        if low is not None:
            low, high = _vlan_id(low, "vlanTrunk minID"), _vlan_id(high, "vlanTrunk maxID")
            if high < low:
                raise invalid_config("invalid vlanTrunk", f"{item!r}: minID is greater than maxID")
            vids.update(range(low, high + 1))
        if item.get("id") is not None:
            vids.add(_vlan_id(item["id"], "vlanTrunk id"))
    return tuple(sorted(vids))


def parse(request: Request) -> BridgeConf:
    conf = request.config
    for key in NOT_YET:
        if conf.get(key):
            raise CNIError(errors.UNSUPPORTED_FIELD, f"unsupported field {key}",
                           f"{key}={conf.get(key)!r}: pynet's bridge does not support {key} yet")
    name = check_ifname(conf.get("bridge") or "cni0", "bridge name", errors.INVALID_CONFIG)
    # CNI_ARGS are shared with the IPAM plugin (IP=...), which validates its own keys.
    mac = unicast_mac(conf.runtime_config.get("mac"), "runtimeConfig.mac") or \
        unicast_mac(dict(request.invocation.args).get("MAC"), "CNI_ARGS MAC")
    default_gateway = conf.flag("isDefaultGateway")
    vlan = conf.get("vlan") or 0
    if vlan:
        vlan = _vlan_id(vlan, "vlan")
    return BridgeConf(
        bridge=name,
        is_gateway=conf.flag("isGateway") or default_gateway,
        is_default_gateway=default_gateway,
        force_address=conf.flag("forceAddress"),
        ip_masq=conf.ip_masq,
        mtu=conf.mtu(),
        hairpin=conf.flag("hairpinMode"),
        promisc=conf.flag("promiscMode"),
        enable_dad=conf.flag("enabledad"),
        mac=mac,
        firewall_backend=conf.firewall_backend,
        isolation=conf.flag("isolation"),
        icc=conf.flag("icc", True),
        vlan=vlan,
        vlan_trunk=vlan_trunk(conf.get("vlanTrunk")),
        preserve_default_vlan=conf.flag("preserveDefaultVlan"),
    )
