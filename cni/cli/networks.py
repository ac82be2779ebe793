"""`pynet create bridge|macvlan|ipvlan` and `pynet network create|ls|inspect|rm|prune|gc`: CNI networks in the
conf dir."""

from __future__ import annotations

import os

from ..containers import lifecycle, netadmin, state
from ..libcni import CNIConfig, load_network, load_networks
from .output import emit, emit_one
from .plugins import runtime_path

COLUMNS = [("name", "NAME"), ("driver", "DRIVER"), ("subnets", "SUBNETS"), ("bridge", "BRIDGE"),
           ("containers", "CONTAINERS"), ("file", "FILE")]


def attached(net_name: str) -> list[dict]:
    """Who is attached to the network: the result cache's entries, named by the runtime's state."""
    known = {c.id: c for c in state.all_containers()}
    found = {}
    for entry in CNIConfig(path=[]).cached_attachments(net_name):
        c = known.get(entry["container_id"])
        ips = [ip.get("address") for ip in (entry.get("result") or {}).get("ips", [])]
        found[(entry["container_id"], entry["ifname"])] = {
            "id": entry["container_id"], "name": c.name if c else "", "ifname": entry["ifname"], "addresses": ips}
    for c in known.values():  # being attached right now: state, but no cache entry yet
        if c.cni_network == net_name and (c.id, c.ifname) not in found:
            found[(c.id, c.ifname)] = {"id": c.id, "name": c.name, "ifname": c.ifname, "addresses": c.addresses()}
    return list(found.values())


def summary(net) -> dict:
    return {"name": net.name, "driver": net.plugins[0].get("type", "") if net.plugins else "",
            "subnets": [str(s) for s in netadmin.network_subnets(net)], "bridge": netadmin.bridge_of(net),
            "containers": len(attached(net.name)), "file": net.path}


def command_create(args) -> int:
    opts = netadmin.BridgeOptions(subnet=args.subnet, gateway=args.gateway, ipv6=args.ipv6, internal=args.internal,
                                  mtu=args.mtu, icc=not args.no_icc, dns=not args.disable_dns)
    net = netadmin.create_bridge(args.name, opts)
    emit_one(summary(net), args.format, text=net.name)
    return 0


def command_create_sublink(args) -> int:
    net = netadmin.create_sublink(args.driver, args.name, args.parent, args.subnet, args.gateway, args.mode)
    emit_one(summary(net), args.format, text=net.name)
    return 0


def command_create_overlay(args) -> int:
    opts = netadmin.OverlayOptions(vni=args.vni, network=args.network, underlay=args.underlay,
                                   subnet_len=args.subnet_len, port=args.port, mtu=args.mtu, encrypt=args.encrypt,
                                   etcd=tuple(args.etcd), store_file=args.store_file, lease_ttl=args.lease_ttl,
                                   dns=not args.disable_dns, default_gateway=args.default_gateway, etcd_tls=tuple(
                                       (k, os.path.abspath(getattr(args, k))) for k in ("cacert", "cert", "key")
                                       if getattr(args, k)))
    from ..plugins.overlay.config import conf_problem

    net = netadmin.create_overlay(args.name, opts, check=conf_problem)
    emit_one(summary(net), args.format, text=net.name)
    return 0


def command_ls(args) -> int:
    emit([summary(net) for net in load_networks(on_error=lambda e: None)], COLUMNS, args.format)
    return 0


def command_inspect(args) -> int:
    net = load_network(args.name)
    record = summary(net)
    record.update(cniVersion=net.cni_version, containers=attached(net.name), plugins=net.plugins,
                  created_by_pynet=netadmin.made_by_pynet(net) is not None,
                  dns_enabled=any(p.get("type") == "dnsname" for p in net.plugins))  # Podman's name for it
    if args.format != "json":  # for people: one line per container, the chain by plugin type
        record.update(plugins=[p.get("type", "?") for p in net.plugins],
                      containers=[f"{c['name'] or '-'} ({c['id'][:12]}) {c['ifname']} {' '.join(c['addresses'])}"
                                  for c in record["containers"]])
    emit_one(record, args.format)
    return 0


def _remove(net) -> None:
    users = attached(net.name)
    if users:
        names = ", ".join(u["name"] or u["id"][:12] for u in users)
        raise netadmin.NetworkError(f"network {net.name} is in use by {len(users)} container(s) ({names}): "
                                    f"remove them first (pynet rm -f ...)")
    netadmin.remove(net, cni_path=runtime_path())


def command_rm(args) -> int:
    for name in args.names:
        _remove(load_network(name))
        emit_one({"name": name, "removed": True}, args.format, text=name)
    return 0


def command_prune(args) -> int:
    removed = []
    for net in load_networks(on_error=lambda e: None):
        if netadmin.made_by_pynet(net) is not None and not attached(net.name):
            netadmin.remove(net, cni_path=runtime_path())
            removed.append(net.name)
    emit([{"name": n} for n in removed], [("name", "REMOVED")], args.format)
    return 0


def command_gc(args) -> int:
    """Remove abandoned containers (their `run` was killed mid-way), DEL the cached attachments of
    containers pynet does not know (any more), then the plugins' GC."""
    if args.names:
        nets = [load_network(name) for name in args.names]
    else:  # other runtimes' networks (Podman's) may share the conf dir and the cache: only pynet's
        nets = [n for n in load_networks(on_error=lambda e: None) if netadmin.made_by_pynet(n) is not None]
    cni = CNIConfig(path=runtime_path())
    rows = [{"network": c.network, "container_id": c.id, "ifname": c.ifname}
            for c in lifecycle.collect(runtime_path()) if c.cni_network]
    with state.locked():
        live = [(c.id, c.ifname) for c in state.all_containers()]
        for net in nets:
            before = {(a["container_id"], a["ifname"]) for a in cni.cached_attachments(net.name)}
            cni.gc(net, valid=live)
            rows += [{"network": net.name, "container_id": cid, "ifname": ifname}
                     for cid, ifname in sorted(before - set(live))]
    emit(rows, [("network", "NETWORK"), ("container_id", "REMOVED ATTACHMENT"), ("ifname", "IFNAME")], args.format)
    return 0


def _dns_option(parser) -> None:
    parser.add_argument("--disable-dns", action="store_true",
                        help="no names: leave the dnsname plugin out (containers reach each other by address)")


def _create_parser(parent, common) -> None:
    drivers = parent.add_subparsers(dest="driver", required=True, metavar="DRIVER")
    bridge = drivers.add_parser("bridge", parents=[common], help="a bridge network with NAT (Docker's default kind)")
    bridge.add_argument("name")
    bridge.add_argument("--subnet", default="", help="IPv4 subnet (default: a free one, 172.17-31.0.0/16, ...)")
    bridge.add_argument("--gateway", default="", help="the bridge's address (default: the subnet's first)")
    bridge.add_argument("--ipv6", default="", metavar="CIDR", help="also an IPv6 subnet")
    bridge.add_argument("--internal", action="store_true", help="no masquerade and no default route")
    bridge.add_argument("--mtu", type=int, default=0)
    bridge.add_argument("--no-icc", action="store_true", help="containers of the network cannot talk to each other")
    _dns_option(bridge)
    bridge.set_defaults(run=command_create)
    for kind, text, modes in (("macvlan", "addresses and MACs of their own on a host interface's LAN",
                               "bridge (default), private, vepa or passthru"),
                              ("ipvlan", "addresses of their own on a host interface's LAN, sharing its MAC",
                               "l2 (default), l3 or l3s; in l3 the LAN needs a route to the subnet")):
        sublink = drivers.add_parser(kind, parents=[common], help=text)
        sublink.add_argument("name")
        sublink.add_argument("--parent", required=True, help="the host interface (the LAN)")
        sublink.add_argument("--subnet", default="", help="the LAN's IPv4 subnet (required)")
        sublink.add_argument("--gateway", default="", help="the LAN's router (default: the subnet's first address)")
        sublink.add_argument("--mode", default="", help=modes)
        sublink.set_defaults(run=command_create_sublink)
    overlay = drivers.add_parser("overlay", parents=[common], help="a VXLAN overlay across hosts (the same command "
                                 "on every host; run `pynet overlay member --network NAME` on each)")
    overlay.add_argument("name")
    overlay.add_argument("--vni", type=int, required=True, help="VXLAN network identifier, 1-16777215")
    overlay.add_argument("--network", required=True, help="the overlay's IPv4 network, e.g. 10.244.0.0/16")
    overlay.add_argument("--underlay", required=True, help="this host's interface (or address) towards the others")
    overlay.add_argument("--subnet-len", type=int, default=24, help="prefix length of each host's subnet (24)")
    overlay.add_argument("--port", type=int, default=0, help="UDP port between the hosts (VXLAN's 4789; "
                         "WireGuard's 51820 with --encrypt)")
    overlay.add_argument("--encrypt", action="store_true", help="encrypted and authenticated between the hosts "
                         "(WireGuard; each host's private key never leaves it)")
    overlay.add_argument("--mtu", type=int, default=0, help="default: the underlay's MTU - 50")
    overlay.add_argument("--default-gateway", action="store_true", help="containers route everything via their "
                         "host (isDefaultGateway): published ports (-p) answer clients outside the overlay")
    overlay.add_argument("--etcd", action="append", default=[], metavar="URL",
                         help="an etcd client URL (repeatable); without: the file store")
    overlay.add_argument("--cacert", default="", help="etcd over TLS: the CA that signed the members' certificates")
    overlay.add_argument("--cert", default="", help="etcd over TLS: this host's client certificate")
    overlay.add_argument("--key", default="", help="etcd over TLS: the client certificate's key")
    overlay.add_argument("--store-file", default="", help="the file store's path, shared by the hosts")
    overlay.add_argument("--lease-ttl", type=int, default=0, help="seconds (default 86400)")
    _dns_option(overlay)
    overlay.set_defaults(run=command_create_overlay)


def register(sub, common) -> None:
    _create_parser(sub.add_parser("create", parents=[common], help="create a network (pynet create bridge NAME)"),
                   common)
    network = sub.add_parser("network", parents=[common], help="create, list, inspect, remove networks")
    actions = network.add_subparsers(dest="action", required=True, metavar="ACTION")
    _create_parser(actions.add_parser("create", parents=[common], help="as pynet create"), common)
    actions.add_parser("ls", parents=[common], help="list the networks").set_defaults(run=command_ls)
    inspect = actions.add_parser("inspect", parents=[common], help="a network's config and containers")
    inspect.add_argument("name")
    inspect.set_defaults(run=command_inspect)
    rm = actions.add_parser("rm", parents=[common], help="remove networks no container is attached to")
    rm.add_argument("names", nargs="+")
    rm.set_defaults(run=command_rm)
    actions.add_parser("prune", parents=[common],
                       help="remove every network pynet created that no container uses").set_defaults(run=command_prune)
    gc = actions.add_parser("gc", parents=[common], help="remove containers whose run was killed mid-way, DEL "
                                                           "attachments of containers pynet no longer knows (e.g. "
                                                           "after a reboot emptied /run), then the plugins' GC")
    gc.add_argument("names", nargs="*", help="networks (default: every network pynet created)")
    gc.set_defaults(run=command_gc)
