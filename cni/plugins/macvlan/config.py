"""macvlan's configuration (the reference's keys). No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from ...spec import Request
from ...spec.env import ifname_problem
from ...spec.errors import invalid_config

MODES = ("bridge", "private", "vepa", "passthru")


@dataclass(frozen=True)
class MacvlanConf:
    master: str = ""  # "" = the interface of the host's default route
    mode: str = "bridge"
    mtu: int = 0
    mac: str = ""
    link_in_container: bool = False


def parse(request: Request) -> MacvlanConf:
    conf = request.config
    master = conf.get("master") or ""
    if master and (not isinstance(master, str) or ifname_problem(master)):
        raise invalid_config("invalid master", f"{master!r} is not an interface name")
    mode = conf.get("mode") or "bridge"
    if mode not in MODES:
        raise invalid_config("invalid mode", f"{mode!r}: use one of {', '.join(MODES)}")
    mtu = conf.get("mtu") or 0
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not (mtu == 0 or 68 <= mtu <= 65535):
        raise invalid_config("invalid mtu", f"{mtu!r}: an MTU is a number from 68 to 65535")
    mac = conf.runtime_config.get("mac") or dict(request.invocation.args).get("MAC", "")
    in_container = conf.get("linkInContainer", False)
    if not isinstance(in_container, bool):
        raise invalid_config("invalid linkInContainer", "it must be true or false")
    return MacvlanConf(master=master, mode=mode, mtu=mtu, mac=mac if isinstance(mac, str) else "",
                       link_in_container=in_container)
