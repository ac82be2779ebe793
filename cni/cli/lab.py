"""`pynet lab up|down|status|on`: a multi-host overlay lab of network namespaces (cni/lab/hosts.py) or of
qemu VMs (`--vm`, cni/lab/vmhosts.py)."""

from __future__ import annotations

import argparse
import json
import signal


def _interrupt(_sig, _frame):
    raise KeyboardInterrupt


def _kind(lab: dict):
    """The module that runs this lab: cni.lab.vmhosts for a lab of VMs, cni.lab.hosts for namespaces."""
    if lab.get("vm"):
        from ..lab import vmhosts

        return vmhosts
    from ..lab import hosts

    return hosts


QUICK_OPTIONS = ("hosts", "store", "vm", "etcd_members", "etcd_tls", "encrypt")  # the quick form's, not -f's


def _topology(args):
    """The lab to build: the file's (-f), or the quick form's (--hosts N ...)."""
    from ..lab import topology
    from ..lab.common import LabError

    given = [f"--{o.replace('_', '-')}" for o in QUICK_OPTIONS if getattr(args, o) not in (None, False)]
    if args.file is None:
        return topology.quick(2 if args.hosts is None else args.hosts, args.store or ("etcd" if args.vm else "file"),
                              args.etcd_members or 1, args.etcd_tls, args.encrypt, "vm" if args.vm else "netns")
    if given:
        raise LabError(f"-f {args.file} describes the whole lab: leave out {', '.join(given)}")
    try:
        with open(args.file) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise LabError(f"cannot read {args.file}: {getattr(e, 'strerror', None) or e}") from None
    return topology.parse(text, args.file)


def command_up(args) -> int:
    from ..lab import hosts
    from ..lab.status import report

    lab_topology = _topology(args)  # a bad file is refused before anything is made
    # killed (a CI timeout, say): undo what was made, as on Ctrl-C; the VMs would outlive this process
    signal.signal(signal.SIGTERM, _interrupt)
    if lab_topology.kind == "vm":
        from ..lab import vmhosts

        lab = vmhosts.up(lab_topology)
    else:
        lab = hosts.up(lab_topology)
    print(json.dumps(lab, indent=1) if args.format == "json" else report(lab))
    return 0


def command_down(args) -> int:
    from ..lab import hosts

    removed = hosts.down()
    if args.format == "json":
        print(json.dumps({"removed": removed}))
    else:
        print(f"removed {len(removed)} objects" if removed else "no lab was up")
    return 0


def command_join(args) -> int:
    from ..lab import joining

    signal.signal(signal.SIGTERM, _interrupt)
    host = joining.join()
    print(json.dumps(host, indent=1) if args.format == "json" else
          f"{host['name']} ({host['underlay']}) -- container {host['container']} {host['address']}\n"
          f"convergence {host['convergence_s']} s, every ping to and from it answered after {host['reachable_s']} s "
          f"(from the start of its pynet run, which took {host['run_s']} s: "
          f"{host['reachable_after_run_s']} s after it returned)")
    return 0


def command_leave(args) -> int:
    from ..lab import joining

    host = joining.leave()
    print(json.dumps(host, indent=1) if args.format == "json" else f"{host['name']} left; every other host dropped "
          "its entries")
    return 0


def command_status(args) -> int:
    from ..lab import hosts
    from ..lab.status import report

    lab = hosts.read()
    if lab is None:
        print(json.dumps(None) if args.format == "json" else "no lab is up")
        return 1
    lab = _kind(lab).status(lab)
    print(json.dumps(lab, indent=1) if args.format == "json" else report(lab))
    return 0


def command_on(args) -> int:
    from ..lab import hosts

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    lab = hosts.read()
    hosts.check_host(lab, args.host)
    return _kind(lab).on(lab, args.host, argv)


def register(sub, common) -> None:
    """`common`: the --format option, taken after each action too (`pynet lab status --format json`)."""
    parser = sub.add_parser("lab", help="a multi-host overlay lab: network namespaces, or qemu VMs (--vm)")
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", parents=[common],
                            help="hosts, store, agents, an overlay and a container per host, pinged; "
                                 "or the lab a YAML file describes (-f)")
    up.add_argument("-f", "--file", help="a YAML topology: hosts, store, networks, containers (docs/lab.md); "
                                         "without it, the quick form's options below")
    up.add_argument("--hosts", type=int, help="simulated hosts (default 2)")
    up.add_argument("--store", choices=("file", "etcd"), help="the overlay's store (default file; etcd with --vm)")
    up.add_argument("--vm", action="store_true", help="the hosts are qemu VMs (software emulation unless "
                                                      "PYNET_VM_ACCEL=kvm; at most PYNET_VM_MAX, default 2)")
    up.add_argument("--etcd-members", type=int, help="etcd cluster members, each on an underlay "
                    "address of its own (with --store etcd; default 1)")
    up.add_argument("--etcd-tls", action="store_true", help="etcd speaks TLS and wants client certificates "
                    "(a throwaway CA in the lab's directory)")
    up.add_argument("--encrypt", action="store_true", help="the overlay encrypted between the hosts (WireGuard: "
                    "needs a kernel with it, as the VMs' has)")
    up.set_defaults(run=command_up)
    actions.add_parser("join", parents=[common], help="one more host (namespaces only), timed: convergence and pings"
                       ).set_defaults(run=command_join)
    actions.add_parser("leave", parents=[common],
                       help="the last host leaves (namespaces only), once the others dropped its entries"
                       ).set_defaults(run=command_leave)
    actions.add_parser("down", parents=[common], help="remove everything the lab created"
                       ).set_defaults(run=command_down)
    actions.add_parser("status", parents=[common], help="what is up, and each host's peers (--format json: what "
                       "the file asked for, and what runs)").set_defaults(run=command_status)
    on = actions.add_parser("on", help="run a pynet command as one of the lab's hosts "
                                       "(e.g. pynet lab on 1 -- exec pnlab-c1 ping -c3 10.213.1.2)")
    on.add_argument("host", type=int, help="the host's number, 1..N")
    on.add_argument("argv", nargs=argparse.REMAINDER, help="-- then pynet's arguments")
    on.set_defaults(run=command_on)
