"""portmap ADD/DEL/CHECK: DNAT from host ports to the container's addresses in prevResult.

Each published port is one element of an nftables map (constant rule count); hairpin and
localhost connections are masqueraded when `snat` is on (the default), and the host side of the
container's network gets route_localnet so 127.0.0.1:hostPort works.
"""

from __future__ import annotations

from ...firewall import PORTS, collect, driver, owner_tag
from ...kernel.links import link_index, netlink, write_sysctl
from ...kernel.undo import UndoLog
from ...spec import CNIError, Request, Result
from ...spec import errors
from ..ipconfig import subnet
from .config import port_mappings, snat


def _elements(request: Request, prev: Result) -> list[dict]:
    """One element per mapping and container address of the mapping's family."""
    out = []
    do_snat = snat(request)
    for mapping in port_mappings(request):
        for cidr in prev.container_addresses():
            if mapping["host_ip"] and (":" in mapping["host_ip"]) != (":" in cidr):
                continue
            out.append({**mapping, "address": cidr.split("/")[0], "subnet": subnet(cidr),
                        "snat": do_snat})
    return out


def _route_localnet(prev: Result) -> None:
    """127.0.0.1:hostPort needs the host side of the network to route loopback sources."""
    with netlink() as ipr:
        for interface in prev.interfaces:
            if not interface.sandbox and link_index(ipr, interface.name) is not None:
                write_sysctl(f"net/ipv4/conf/{interface.name}/route_localnet", "1")
                return


def add(request: Request) -> Result:
    prev = request.prev_result(chained=True)
    elements = _elements(request, prev)
    if not elements:
        return prev
    owner = owner_tag(request.config.name, request.container_id, request.ifname)
    firewall = driver(request.config.firewall_backend)
    with UndoLog() as undo:
        undo.done("port mappings", firewall.add_port_mappings(owner, elements))
        if any(e["snat"] and ":" not in e["address"] for e in elements):
            _route_localnet(prev)
    return prev


def delete(request: Request) -> None:
    owner = owner_tag(request.config.name, request.container_id, request.ifname)
    prev = request.config.prev_result
    try:  # what ADD published, if the DEL says it: the firewall finds those by key
        expected = _elements(request, prev) if prev is not None else None
    except CNIError:  # a DEL goes on whatever its configuration holds
        expected = None
    driver(request.config.firewall_backend).remove(owner, PORTS, expected)


def gc(request: Request) -> None:
    """The published ports of attachments not in cni.dev/valid-attachments go."""
    collect(driver(request.config.firewall_backend), request.config, PORTS)


def check(request: Request) -> None:
    prev = request.prev_result(chained=True)
    owner = owner_tag(request.config.name, request.container_id, request.ifname)
    missing = driver(request.config.firewall_backend).missing(owner, PORTS, _elements(request, prev))
    if missing:
        raise CNIError(errors.CHECK_FAILED, "published ports are missing", "; ".join(missing))
