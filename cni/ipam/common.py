"""What host-local and static share: the ipam section, routes, DNS from resolv.conf."""

from __future__ import annotations

from ..context import caller_path
from ..files import read_regular
from ..spec import DNS, Request
from ..spec.config import check_path
from ..spec.errors import CNIError, IO_FAILURE, invalid_config
from ..spec.result import parse_route


def ipam_section(request: Request) -> dict:
    ipam = request.config.ipam
    if not ipam:
        raise invalid_config(f"the {request.config.type} IPAM plugin needs an \"ipam\" section",
                             "the network configuration has no ipam object")
    return ipam


def routes(ipam, where: str = "ipam.routes") -> tuple:
    value = ipam.get("routes")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise invalid_config(f"invalid {where}", "it must be a list of {\"dst\": ..., \"gw\": ...} objects")
    return tuple(parse_route(r, f"{where}[{n}]") for n, r in enumerate(value))


def resolv_conf(value) -> DNS:
    """nameserver/domain/search/options lines of the resolv.conf file ipam.resolvConf names."""
    nameservers, search, options, domain = [], [], [], ""
    path = caller_path(check_path(value, "ipam.resolvConf"))
    try:
        lines = read_regular(path).decode("utf-8", "replace").splitlines()
    except OSError as e:
        raise CNIError(IO_FAILURE, "cannot read ipam.resolvConf", f"{path}: {e.strerror}") from None
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        key, values = words[0], words[1:]
        if key == "nameserver":
            nameservers.append(values[0])
        elif key == "domain":
            domain = values[0]
        elif key == "search":
            search = values
        elif key == "options":
            options += values
    return DNS(tuple(nameservers), domain, tuple(search), tuple(options))
