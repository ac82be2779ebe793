"""`pynet overlay member|status|leave|rotate-key --network NAME`: one host's side of an overlay network
(run it in the host's network namespace, with the PYNET_STATE_DIR its plugin uses). `member` runs
the host's member daemon (membership.py); `overlay agent` is its former name, kept as an alias."""

from __future__ import annotations

from .output import emit


def _state(name: str):
    from ..plugins.overlay import local
    from ..plugins.overlay.config import from_state, state_dir_of

    state = local.read(state_dir_of(name))
    if state is None:
        raise RuntimeError(f"this host has not joined overlay {name!r} (no lease under {state_dir_of(name)}; "
                           "it joins on its first container's ADD)")
    return state, from_state(state, state_dir_of(name))


def command_member(args) -> int:
    from ..plugins.overlay.membership import run

    return run(args.network, args.interval)


def command_status(args) -> int:
    from ..plugins.overlay.cluster import leases, open_store

    state, conf = _state(args.network)
    rows = [{"subnet": s, "underlay": r["underlay"], "vtep": r["vtepMac"], "hostname": r.get("hostname", ""),
             "key": r.get("wgKey", ""), "this": "*" if s == state["subnet"] else ""}
            for s, r in sorted(leases(open_store(conf.store), conf).items())]
    emit(rows, [("this", ""), ("subnet", "SUBNET"), ("underlay", "UNDERLAY"), ("vtep", "VTEP MAC"),
                ("hostname", "HOSTNAME")] + ([("key", "WIREGUARD KEY")] if conf.encrypt else []), args.format)
    return 0


def command_leave(args) -> int:
    from ..plugins.overlay import local
    from ..plugins.overlay.commands import leave

    state, conf = _state(args.network)
    with local.locked(conf.state_dir):
        attached = local.containers(conf.ipam_dir, conf.name)
        if attached and not args.force:
            raise RuntimeError(f"{attached} container(s) still attached to {args.network}: DEL them first "
                               "(or --force, which cuts them off)")
        leave(conf, state)
    return 0


def command_rotate_key(args) -> int:
    from ..plugins.overlay import local
    from ..plugins.overlay.commands import rotate_key

    _, conf = _state(args.network)
    with local.locked(conf.state_dir):
        state, conf = _state(args.network)
        public = rotate_key(conf, state)
    emit([{"network": conf.name, "key": public}], [("network", "NETWORK"), ("key", "PUBLIC KEY")], args.format)
    return 0


def register(sub, common) -> None:
    parser = sub.add_parser("overlay", help="this host's side of a VXLAN overlay network")
    actions = parser.add_subparsers(dest="action", required=True)
    member = actions.add_parser("member", parents=[common], aliases=["agent"],
                                help="the member daemon: keep this host's lease alive and its remote entries in "
                                     "sync (foreground; `agent` is its former name)")
    member.add_argument("--interval", type=float, default=None, help="seconds between passes at most; a change in "
                        "the store starts one at once (default 0.5 with the file store, 5 with etcd)")
    member.set_defaults(run=command_member)
    status = actions.add_parser("status", parents=[common],
                                help="the overlay's hosts (leases) as the store has them")
    status.set_defaults(run=command_status)
    leave = actions.add_parser("leave", parents=[common],
                               help="release this host's lease and remove its VXLAN device and bridge")
    leave.add_argument("--force", action="store_true", help="even with containers still attached")
    leave.set_defaults(run=command_leave)
    rotate = actions.add_parser("rotate-key", parents=[common],
                                help="a new WireGuard key pair for this host (an encrypted overlay); "
                                     "its containers stay reachable")
    rotate.set_defaults(run=command_rotate_key)
    for action in (member, status, leave, rotate):
        action.add_argument("--network", required=True, help="the overlay's name (the configuration's `name`)")
