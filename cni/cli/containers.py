"""`pynet run|ps|exec|logs|stop|rm|inspect`: containers in namespaces (cni/containers/lifecycle.py)."""

from __future__ import annotations

import os
import signal
import sys

from ..containers import etcfiles, lifecycle, netadmin, state
from .output import emit, emit_one
from .plugins import runtime_path

COLUMNS = [("id", "CONTAINER ID"), ("name", "NAME"), ("status", "STATUS"), ("network", "NETWORK"),
           ("addresses", "ADDRESSES"), ("ports", "PORTS"), ("command", "COMMAND")]


def _port(m: dict) -> str:
    host = f"{m['hostIP']}:" if m.get("hostIP") else ""
    return f"{host}{m['hostPort']}->{m['containerPort']}/{m['protocol']}"


def row(c: state.Container) -> dict:
    network = c.network
    if network.startswith("container:"):
        cid = network.split(":", 1)[1]
        others = {o.id: o.name for o in state.all_containers()}
        network = f"container:{others.get(cid, cid[:12])}"
    return {"id": c.id[:12], "name": c.name, "status": c.status(), "network": network,
            "addresses": c.addresses(), "ports": [_port(m) for m in c.ports], "command": " ".join(c.command)}


def command_run(args) -> int:
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    signal.signal(signal.SIGTERM, _interrupt)  # a half-made container is undone, as on Ctrl-C
    c = lifecycle.create(args.name or "", command, args.network, cni_path=runtime_path(), rootfs=args.rootfs,
                         ports=tuple(args.publish), ip=args.ip, detached=args.detach, memory=args.memory,
                         cpus=args.cpus, aliases=tuple(args.network_alias),
                         requested=etcfiles.Requested(tuple(args.dns), tuple(args.dns_search), tuple(args.add_host)))
    if args.detach:
        lifecycle.start_detached(c, remove_after=args.rm, cni_path=runtime_path())
        emit_one({"id": c.id, "name": c.name}, args.format, text=c.id)
        return 0
    code = lifecycle.start(c)
    if args.rm:
        lifecycle.remove(c.id, force=True, cni_path=runtime_path())
    return code


def _interrupt(_sig, _frame):
    raise KeyboardInterrupt


def command_ps(args) -> int:
    found = state.all_containers()
    if not args.all:
        found = [c for c in found if c.running()]
    emit([row(c) for c in found], COLUMNS, args.format)
    return 0


def command_exec(args) -> int:
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    argv = lifecycle.exec_argv(args.container, command)
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def command_logs(args) -> int:
    c = state.find(args.container)
    if not c.detached:
        raise state.ContainerError(f"container {c.name} ran in the foreground: its output was not logged")
    with open(c.log_path, "rb") as f:
        sys.stdout.buffer.write(f.read())
    return 0


def command_stop(args) -> int:
    for ref in args.containers:
        c = lifecycle.stop(ref, args.time)
        emit_one({"name": c.name, "status": c.status()}, args.format, text=c.name)
    return 0


def command_rm(args) -> int:
    for ref in args.containers:
        c = lifecycle.remove(ref, force=args.force, cni_path=runtime_path())
        record = {"id": c.id, "name": c.name, "removed": True} if c else {"id": "", "name": ref, "removed": False}
        emit_one(record, args.format, text=ref)
    return 0


def command_inspect(args) -> int:
    c = state.find(args.container)
    record = c.describe()
    if args.format != "json":  # the CNI result is in the JSON; people get its addresses
        record.pop("result")
        record.update(command=" ".join(c.command), ports=row(c)["ports"], network=row(c)["network"])
    emit_one(record, args.format)
    return 0


def register(sub, common) -> None:
    run = sub.add_parser("run", parents=[common], help="run a command in a new container")
    run.add_argument("--name", help="container name (also its hostname)")
    run.add_argument("--network", "--net", default=netadmin.DEFAULT_NETWORK,
                     help=f"a CNI network's name (default: {netadmin.DEFAULT_NETWORK}, made on first use), none "
                          "(loopback only), host, container:NAME")
    run.add_argument("--network-alias", action="append", default=[], metavar="ALIAS",
                     help="another name on a user-defined network (the aliases capability); repeatable")
    run.add_argument("--dns", action="append", default=[], metavar="IP",
                     help="a name server for /etc/resolv.conf (replaces the network's); repeatable")
    run.add_argument("--dns-search", action="append", default=[], metavar="DOMAIN",
                     help="a search domain for /etc/resolv.conf (replaces the network's); repeatable")
    run.add_argument("--add-host", action="append", default=[], metavar="NAME:IP",
                     help="a line for /etc/hosts; repeatable")
    run.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:]HOST:CONTAINER[/PROTO]",
                     help="publish a container port on the host (CNI networks)")
    run.add_argument("--ip", default="", help="the container's address on a CNI network")
    run.add_argument("-d", "--detach", action="store_true", help="run in the background, output to its log")
    run.add_argument("--rm", action="store_true", help="remove the container when the command ends (also with -d)")
    run.add_argument("--rootfs", default="", help="a directory to use as the container's root")
    run.add_argument("--memory", "-m", default="", help="memory limit, e.g. 256m (a cgroup, v1 or v2)")
    run.add_argument("--cpus", default="", help="CPU limit, e.g. 0.5 (a cgroup, v1 or v2)")
    run.add_argument("cmd", nargs="...", help="-- COMMAND [ARG...]")
    run.set_defaults(run=command_run)

    ps = sub.add_parser("ps", parents=[common], help="list running containers")
    ps.add_argument("-a", "--all", action="store_true", help="also the stopped ones")
    ps.set_defaults(run=command_ps)

    ex = sub.add_parser("exec", parents=[common], help="run a command in a running container")
    ex.add_argument("container")
    ex.add_argument("cmd", nargs="...")
    ex.set_defaults(run=command_exec)

    for name, handler, what in (("logs", command_logs, "print a detached container's output"),
                                ("inspect", command_inspect, "everything about a container")):
        p = sub.add_parser(name, parents=[common], help=what)
        p.add_argument("container")
        p.set_defaults(run=handler)

    stop = sub.add_parser("stop", parents=[common], help="stop containers' processes (the network stays)")
    stop.add_argument("containers", nargs="+")
    stop.add_argument("-t", "--time", type=float, default=10, help="seconds between SIGTERM and SIGKILL")
    stop.set_defaults(run=command_stop)

    rm = sub.add_parser("rm", parents=[common], help="remove containers: network, namespaces, state")
    rm.add_argument("containers", nargs="+")
    rm.add_argument("-f", "--force", action="store_true", help="also running ones; no error for missing ones")
    rm.set_defaults(run=command_rm)
