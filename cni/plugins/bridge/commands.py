"""bridge ADD/DEL/CHECK: what `docker0` does for a container, as a CNI plugin.

ADD: the bridge (created if missing), a veth pair (container end renamed to CNI_IFNAME), addresses
and routes from IPAM, the gateway address on the bridge, forwarding on, masquerade. Every step is in
the undo log, so a failed ADD leaves the host and the container as they were.
"""

from __future__ import annotations

from ...firewall import ICC, MASQUERADE, driver, owner_tag
from ...ipam import delegate
from ...kernel.links import deleting_link, link_index, mac_of, netlink
from ...kernel.undo import UndoLog
from ...spec import CNIError, Interface, IPConfig, Request, Result
from ...spec import errors
from ..bridging import attach_veth, attachment_problems, ensure_bridge, gateway_on_bridge
from ..ipconfig import configure, subnet, with_default_routes
from . import vlan
from .config import parse


def add(request: Request) -> Result:
    conf = parse(request)
    ifname, network = request.ifname, request.config.name
    owner = owner_tag(network, request.container_id, ifname)
    # the undo log closes first, while both netlink sockets are still open for it
    with netlink(request.netns) as container, netlink() as host, UndoLog() as undo:
        if link_index(container, ifname) is not None:
            raise CNIError(errors.IFNAME_EXISTS, f"{ifname} already exists in the container",
                           f"{request.netns} has a link called {ifname}; choose another CNI_IFNAME")
        existed = conf.vlan_filtering and link_index(host, conf.bridge) is not None
        bridge = ensure_bridge(host, conf.bridge, undo, conf.mtu, conf.promisc)
        if conf.vlan_filtering:
            vlan.require_filtering(host, bridge, conf, created=not existed)
        host_name, host_end, inside = attach_veth(container, host, ifname, bridge, undo, conf.mtu, conf.mac,
                                                  conf.hairpin)
        if conf.vlan_filtering:
            vlan.configure_port(host, host_end, conf.vlan, conf.vlan_trunk, conf.preserve_default_vlan)

        ipam = Result()
        if request.config.ipam:
            ipam = delegate.add(request)
            undo.done("IPAM reservation", lambda: delegate.call(request, "DEL"))
        routes = with_default_routes(ipam) if conf.is_default_gateway else ipam.routes
        configure(container, inside, request, ipam, routes, conf.enable_dad)
        gateway = ()
        if conf.is_gateway and conf.vlan:  # the gateway lives in the VLAN, not on the bridge itself
            name, index = vlan.gateway_link(host, bridge, conf, undo)
            gateway_on_bridge(host, index, name, ipam.ips, undo, conf.force_address)
            gateway = (Interface(name=name, mac=mac_of(host, index)),)
        elif conf.is_gateway:
            gateway_on_bridge(host, bridge, conf.bridge, ipam.ips, undo, conf.force_address)
        firewall = driver(conf.firewall_backend)
        if conf.isolation:
            undo.done("isolation", firewall.isolate_bridge(network, conf.bridge))
        if not conf.icc:
            undo.done("no icc", firewall.deny_icc(owner, host_name))
        if conf.ip_masq and ipam.ips:
            subnets = [subnet(ip.address) for ip in ipam.ips]
            undo.done("masquerade", firewall.add_masquerade(network, owner, [ip.address for ip in ipam.ips], subnets))
        interfaces = (
            Interface(name=conf.bridge, mac=mac_of(host, bridge)),
            Interface(name=host_name, mac=mac_of(host, host_end)),
            Interface(name=ifname, mac=mac_of(container, inside), sandbox=request.netns),
        ) + gateway
    ips = tuple(IPConfig(address=ip.address, gateway=ip.gateway, interface=2) for ip in ipam.ips)
    return Result(interfaces=interfaces, ips=ips, routes=routes, dns=ipam.dns)


def delete(request: Request) -> None:
    conf = parse(request)
    owner = owner_tag(request.config.name, request.container_id, request.ifname)
    firewall = driver(conf.firewall_backend)
    # the veth goes (taking its host end with it) while the firewall state and the address go
    with deleting_link(request.netns, request.ifname):
        if conf.ip_masq:
            firewall.remove(owner, MASQUERADE, request.prev_addresses())
        if not conf.icc:
            firewall.remove(owner, ICC)
        if request.config.ipam:  # after the firewall: a released address may be handed out at once
            delegate.call(request, "DEL")


def check(request: Request) -> None:
    conf = parse(request)
    problems, expected = attachment_problems(request, conf.bridge)
    if conf.ip_masq:
        owner = owner_tag(request.config.name, request.container_id, request.ifname)
        problems += [f"no masquerade for {a}" for a in driver(conf.firewall_backend).missing(owner, expected)]
    if problems:
        raise CNIError(errors.CHECK_FAILED, "the container's bridge attachment is not as ADD left it",
                       "; ".join(problems))
    if request.config.ipam:
        delegate.call(request, "CHECK")
