"""The configuration of macvlan and ipvlan (the reference's keys), and what differs between the two
link kinds. No I/O."""

from __future__ import annotations

from ...spec.record import record

from ...spec import Request
from ...spec.env import check_ifname
from ...spec.errors import INVALID_CONFIG, invalid_config, shown
from ...spec.mac import unicast_mac


@record
class Kind:
    """A kind of link made on a master device: its modes (config name -> kernel value), the prefix of
    its temporary host names, and whether it has a MAC of its own."""

    name: str
    modes: dict
    default_mode: str
    prefix: str
    own_mac: bool
    needs_ip: bool  # ipvlan: IPAM, or a chained prevResult with addresses

    @property
    def a(self) -> str:
        """"a macvlan", "an ipvlan"."""
        return ("an " if self.name[0] in "aeiou" else "a ") + self.name

    def mode_name(self, value: int) -> str:
        """The config name of a mode the kernel reports (its number)."""
        return {v: k for k, v in self.modes.items()}.get(value, str(value))


MACVLAN = Kind("macvlan", {"bridge": 4, "private": 1, "vepa": 2, "passthru": 8}, "bridge", "pnm", own_mac=True,
               needs_ip=False)
IPVLAN = Kind("ipvlan", {"l2": 0, "l3": 1, "l3s": 2}, "l2", "pni", own_mac=False, needs_ip=True)
OTHER = {"macvlan": IPVLAN, "ipvlan": MACVLAN}


@record
class LinkConf:
    kind: Kind
    master: str = ""  # "" = the interface of the default route (or, chained, of prevResult)
    mode: str = ""
    mtu: int = 0
    mac: str = ""
    link_in_container: bool = False


def parse(request: Request, kind: Kind) -> LinkConf:
    conf = request.config
    master = conf.get("master") or ""
    if master:
        check_ifname(master, "master", INVALID_CONFIG)
    mode = conf.get("mode") or kind.default_mode
    if not isinstance(mode, str) or mode not in kind.modes:
        raise invalid_config("invalid mode", f"{shown(mode)}: {kind.name} modes are {', '.join(kind.modes)}")
    mtu = conf.mtu()
    mac = ""
    if kind.own_mac:
        mac = unicast_mac(conf.runtime_config.get("mac"), "runtimeConfig.mac") or \
            unicast_mac(dict(request.invocation.args).get("MAC"), "CNI_ARGS MAC")
    in_container = conf.get("linkInContainer", False)
    if not isinstance(in_container, bool):
        raise invalid_config("invalid linkInContainer", "it must be true or false")
    prev = conf.prev_result
    if kind.needs_ip and request.command == "ADD" and not conf.ipam and not (prev and prev.ips):
        raise invalid_config(f"{kind.name} needs ipam",
                             f"{kind.a} link shares the master's MAC, so it is reached by its IP address "
                             "alone: add an \"ipam\" section (or chain it after a plugin whose result has ips)")
    if not master and prev and kind.needs_ip:  # chained: the master is the previous plugin's interface
        named = [i.name for i in prev.interfaces if i.name]
        if len(named) != 1:
            raise invalid_config("chained master failure",
                                 "no \"master\" is set and prevResult lacks a single named interface")
        master = named[0]
    return LinkConf(kind=kind, master=master, mode=mode, mtu=mtu, mac=mac,
                    link_in_container=in_container)
