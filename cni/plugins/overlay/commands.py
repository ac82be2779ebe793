"""overlay ADD/DEL/CHECK.

ADD: register the network and take (or renew) this host's subnet lease in the store — before any
kernel change, so an unreachable store leaves nothing — then the VXLAN device (an encrypted
network: the WireGuard device, keyed by this host's own key pair, whose public half goes in the
lease), the bridge with the lease's gateway, the container's veth pair and address (host-local on
the lease), and the entries of every remote host. DEL of the host's last container removes the
device and the bridge and releases the lease: the host leaves the overlay. Every ADD step is in
the undo log.
"""

from __future__ import annotations

import ipaddress
import json
import os

from ...dns import records
from ...firewall import driver, owner_tag
from ...ipam import delegate
from ...kernel import wireguard
from ...kernel.links import (add_address, all_addresses, create_vxlan, delete_address, delete_link, link_index, mac_of,
                             netlink, no_support, set_up, summary, write_sysctl)
from ...kernel.undo import EveryStep, UndoLog
from ...spec import CNIError, Interface, IPConfig, Request, Result
from ...spec import errors
from ...spec.request import request_for
from ..bridging import attach_veth, attachment_problems, ensure_bridge, gateway_on_bridge
from ..detaching import collect_garbage, detach
from ..ipconfig import configure, with_default_routes
from . import keys, local, names, tunnel
from .cluster import lease_key, leases, network_key, open_store, register, release, take_lease, vtep_ip
from .config import OverlayConf, parse
from .fabric import apply, device_problems, entries, lacking, resolve_underlay


def _ipam_request(request: Request, conf: OverlayConf, subnet: str) -> Request:
    """The request host-local sees: the lease's subnet, its first address as gateway, a route to the
    whole overlay, and this host's own dataDir. pynet's own host-local serves it (own=True), whatever
    CNI_PATH holds: the overlay's address plan is its own, not the user's ipam.type."""
    raw = json.loads(request.stdin)
    gateway = str(ipaddress.IPv4Network(subnet).network_address + 1)
    raw["ipam"] = {"type": "host-local", "dataDir": conf.ipam_dir,
                   "ranges": [[{"subnet": subnet, "gateway": gateway}]], "routes": [{"dst": str(conf.network)}]}
    return request_for(request.invocation, json.dumps(raw).encode())


def _ensure_device(host, conf: OverlayConf, underlay: str, mtu: int, lease: dict, undo: UndoLog) -> int:
    index = link_index(host, conf.device)
    if index is None:
        create_vxlan(host, conf.device, conf.vni, underlay, conf.port, mtu, lease["vtepMac"])
        undo.done(f"VXLAN device {conf.device}", lambda: delete_link(host, conf.device))
        index = link_index(host, conf.device)
    else:
        problems = device_problems(host, conf, underlay)
        if problems:
            raise CNIError(errors.INVALID_CONFIG, f"{conf.device} exists with other settings",
                           "; ".join(problems) + f"; delete {conf.device} or fix the configuration")
    address = f"{vtep_ip(lease['subnet'])}/32"
    for other in all_addresses(host, index):
        if other != address:
            delete_address(host, index, other)
    if address not in all_addresses(host, index):
        add_address(host, index, address)
    set_up(host, index)
    return index


def add(request: Request) -> Result:
    conf = parse(request)
    with local.locked(conf.state_dir):
        return _add(request, conf)


def _host_key(conf: OverlayConf, undo: UndoLog) -> tuple[str, str]:
    """This host's WireGuard key pair (made on its first ADD: undone with it)."""
    made = not os.path.exists(conf.key_path)
    pair = keys.host_key(conf.key_path)
    if made:
        undo.done("WireGuard key", lambda: os.unlink(conf.key_path))
    return pair


def _ensure_tunnel(host, conf: OverlayConf, mtu: int, private: str, public: str, undo: UndoLog) -> None:
    if link_index(host, conf.device) is None:
        wireguard.create(host, conf.device, mtu)
        undo.done(f"WireGuard device {conf.device}", lambda: delete_link(host, conf.device))
    elif summary(host, link_index(host, conf.device)).kind != "wireguard":
        raise CNIError(errors.INVALID_CONFIG, f"{conf.device} exists and is no WireGuard device",
                       f"delete {conf.device} or fix the configuration")
    wireguard.configure(host, conf.device, private, conf.port)
    set_up(host, link_index(host, conf.device))


def _add(request: Request, conf: OverlayConf) -> Result:
    ifname = request.ifname
    if conf.encrypt and not wireguard.has_support():
        raise no_support("wireguard")  # before anything changes, on this host or in the store
    with netlink(request.netns) as container, netlink() as host, UndoLog() as undo:
        if link_index(container, ifname) is not None:
            raise CNIError(errors.IFNAME_EXISTS, f"{ifname} already exists in the container",
                           f"{request.netns} has a link called {ifname}; choose another CNI_IFNAME")
        underlay, underlay_mtu = resolve_underlay(host, conf.underlay)
        mtu = conf.mtu or underlay_mtu - conf.overhead
        if mtu > underlay_mtu - conf.overhead:
            raise CNIError(errors.INVALID_CONFIG, f"mtu {mtu} does not fit the underlay",
                           f"{conf.underlay} has MTU {underlay_mtu}: {conf.tunnel} adds {conf.overhead} bytes, so "
                           f"the overlay's mtu can be at most {underlay_mtu - conf.overhead} (or leave mtu out)")
        store = open_store(conf.store)
        unregister = register(store, conf)
        if unregister is not None:
            undo.done(f"registration of {conf.name}", unregister)
        before = local.read(conf.state_dir)
        private, public = _host_key(conf, undo) if conf.encrypt else ("", "")
        lease, new = take_lease(store, conf, underlay, before["subnet"] if before else "", public)
        if new:
            undo.done(f"lease {lease['subnet']}", lambda: release(store, conf, lease["subnet"]))
        if conf.encrypt:
            _ensure_tunnel(host, conf, mtu, private, public, undo)
        else:
            _ensure_device(host, conf, underlay, mtu, lease, undo)
        bridge = ensure_bridge(host, conf.bridge, undo, mtu)
        owner = owner_tag(conf.name, request.container_id, ifname)
        host_name, host_end, inside = attach_veth(container, host, ifname, bridge, undo, mtu, owner=owner)
        ipam_request = _ipam_request(request, conf, lease["subnet"])
        ipam = delegate.add(ipam_request, own=True)
        undo.done("IPAM reservation", lambda: delegate.call(ipam_request, "DEL", own=True))
        routes = with_default_routes(ipam) if conf.is_default_gateway else ipam.routes
        configure(container, inside, ipam_request, ipam, routes)
        gateway_on_bridge(host, bridge, conf.bridge, ipam.ips, undo)
        owner = owner_tag(conf.name, request.container_id, ifname)
        if conf.isolation:
            undo.done("isolation", driver(conf.firewall_backend).isolate_bridge(conf.name, owner, conf.bridge,
                                                                                (conf.device,)))
        if conf.ip_masq:
            undo.done("masquerade", driver(conf.firewall_backend).add_masquerade(
                conf.name, owner, [ip.address for ip in ipam.ips], [str(conf.network)]))
        apply(host, conf, entries(conf, leases(store, conf), lease["subnet"]))
        local.write(conf.state_dir, {"name": conf.name, "subnet": lease["subnet"], "underlay": underlay,
                                     "encrypt": conf.encrypt, "wgKey": public,
                                     "vni": conf.vni, "network": str(conf.network), "device": conf.device,
                                     "bridge": conf.bridge, "store": conf.store.as_dict(), "leaseTTL": conf.lease_ttl,
                                     "subnetLen": conf.subnet_len, "port": conf.port,
                                     "vtepMac": lease["vtepMac"], "hostname": lease.get("hostname", ""),
                                     "isolation": conf.isolation, "firewallBackend": conf.firewall_backend})
        interfaces = (
            Interface(name=conf.bridge, mac=mac_of(host, bridge)),
            Interface(name=host_name, mac=mac_of(host, host_end)),
            Interface(name=ifname, mac=mac_of(container, inside), sandbox=request.netns, mtu=mtu),
        )
    write_sysctl("net.ipv4.ip_forward", "1")  # after the ADD succeeded: see bridging.enable_forwarding
    ips = tuple(IPConfig(address=ip.address, gateway=ip.gateway, interface=2) for ip in ipam.ips)
    return Result(interfaces=interfaces, ips=ips, routes=routes, dns=ipam.dns)


def delete(request: Request) -> None:
    conf = parse(request)
    with local.locked(conf.state_dir), EveryStep() as steps:
        state = local.read(conf.state_dir)
        ipam_request = _ipam_request(request, conf, state["subnet"] if state else str(conf.network))
        steps.run("detaching the container", detach, request, driver(conf.firewall_backend),
                  lambda: delegate.call(ipam_request, "DEL", own=True))
        if state and local.containers(conf.ipam_dir, conf.name) == 0:
            steps.run("leaving the overlay", leave, conf, state)


def leave(conf: OverlayConf, state: dict) -> None:
    """The host leaves the overlay: VXLAN device and bridge gone, its names and lease released, the
    other hosts' names and the local state removed. An unreachable store keeps the lease and names
    until the lease's TTL runs out (logged, not an error)."""
    with netlink() as host:
        delete_link(host, conf.device)
        delete_link(host, conf.bridge)
    driver(conf.firewall_backend).forget_network(conf.name)
    names.forget(conf.name, records.directory())
    try:
        store = open_store(conf.store)
        names.withdraw(store, conf, state["underlay"])
        release(store, conf, state["subnet"])
    except CNIError as e:
        from ...log import logger

        logger().warning("overlay %s: lease %s and names not released (%s); they go when the lease's TTL runs out",
                         conf.name, state["subnet"], e)
    local.forget(conf.state_dir)


def rotate_key(conf: OverlayConf, state: dict) -> str:
    """A new key pair for this host (the caller holds the host's overlay lock): its device takes the
    private half, its lease record the public one, and the other hosts' member daemons follow on their
    next pass (at once: they watch the store). Returns the new public key."""
    if not conf.encrypt:
        raise CNIError(errors.INVALID_CONFIG, f"overlay {conf.name} is not encrypted", "it has no keys to rotate")
    private, public = keys.rotate(conf.key_path)
    with netlink() as host:
        wireguard.configure(host, conf.device, private, conf.port)
    store = open_store(conf.store)
    record = leases(store, conf).get(state["subnet"])
    if record is None or record["underlay"] != state["underlay"]:
        raise CNIError(errors.TRY_AGAIN_LATER, f"this host holds no lease {state['subnet']} now",
                       "the member daemon takes it again; rotate once it has")
    store.put(lease_key(conf, state["subnet"]), {**record, "wgKey": public}, conf.lease_ttl)
    local.write(conf.state_dir, {**state, "wgKey": public})
    return public


def check(request: Request) -> None:
    conf = parse(request)
    state = local.read(conf.state_dir)
    if state is None:
        raise CNIError(errors.CHECK_FAILED, f"this host holds no lease of overlay {conf.name}",
                       f"no {conf.state_dir}/lease.json: was the container added with this PYNET_STATE_DIR?")
    problems, _ = attachment_problems(request, conf.bridge)
    with netlink() as host:
        underlay, _ = resolve_underlay(host, conf.underlay)
        public = keys.public_of(conf.key_path) if conf.encrypt else ""
        problems += tunnel.device_problems(host, conf, public) if conf.encrypt else device_problems(host, conf, underlay)
        current = leases(open_store(conf.store), conf)
        own = current.get(state["subnet"])
        if own is None or own["underlay"] != underlay or own.get("wgKey", "") != public:
            problems.append(f"the store does not hold lease {state['subnet']} for {underlay}"
                            + (" with this host's key" if conf.encrypt else ""))
        problems += lacking(host, conf, entries(conf, current, state["subnet"]))
    if problems:
        raise CNIError(errors.CHECK_FAILED, "the overlay attachment is not as ADD left it", "; ".join(problems))
    delegate.call(_ipam_request(request, conf, state["subnet"]), "CHECK", own=True)


def gc(request: Request) -> None:
    """Every resource of an attachment not in cni.dev/valid-attachments goes (its host veth, its
    masquerade state, its address on this host's lease); with no container left, the host leaves
    the overlay as after its last DEL."""
    conf = parse(request)
    with local.locked(conf.state_dir), EveryStep() as steps:
        state = local.read(conf.state_dir)
        if state is None:
            return
        steps.run("collecting the attachments", collect_garbage, request, conf.bridge, driver(conf.firewall_backend),
                  _ipam_request(request, conf, state["subnet"]), True)
        if local.containers(conf.ipam_dir, conf.name) == 0:
            steps.run("leaving the overlay", leave, conf, state)


def status(request: Request) -> None:
    """Not available (code 50) while the store does not answer: no ADD could take or renew a lease."""
    conf = parse(request)
    try:
        open_store(conf.store).list(network_key(conf))
    except CNIError as e:
        raise CNIError(errors.NOT_AVAILABLE, "the overlay's store does not answer", str(e)) from None
