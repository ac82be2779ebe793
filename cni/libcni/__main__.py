"""`python -m cni.libcni`: cnitool's job on cni.libcni, for people and tests.

    python -m cni.libcni add|check|del NETWORK CONTAINER_ID NETNS [IFNAME]
    python -m cni.libcni gc NETWORK [CONTAINER_ID/IFNAME ...]     (the live attachments)
    python -m cni.libcni status NETWORK
    python -m cni.libcni list [NETWORK]                           (networks, or cached attachments)

CNI_PATH, PYNET_CNI_CONF_DIR and PYNET_CNI_CACHE_DIR say where plugins, configurations and the
cache are; CNI_ARGS ("K=V;K=V") and CAP_ARGS (a JSON object) go to the plugins, as for cnitool.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import CNIConfig, CNIRuntimeError, RuntimeConf, load_network, load_networks


def _runtime_conf(args) -> RuntimeConf:
    pairs = [tuple(p.split("=", 1)) for p in os.environ.get("CNI_ARGS", "").split(";") if "=" in p]
    try:
        caps = json.loads(os.environ.get("CAP_ARGS") or "{}")
    except ValueError as e:
        raise CNIRuntimeError(f"CAP_ARGS is not JSON: {e}") from None
    return RuntimeConf(args.container_id, args.netns, args.ifname, args=pairs, capability_args=caps)


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m cni.libcni", description="run CNI network configurations")
    sub = top.add_subparsers(dest="command", required=True)
    for name in ("add", "check", "del"):
        one = sub.add_parser(name)
        one.add_argument("network")
        one.add_argument("container_id")
        one.add_argument("netns")
        one.add_argument("ifname", nargs="?", default="eth0")
    gc = sub.add_parser("gc")
    gc.add_argument("network")
    gc.add_argument("valid", nargs="*", metavar="CONTAINER_ID/IFNAME")
    sub.add_parser("status").add_argument("network")
    sub.add_parser("list").add_argument("network", nargs="?")
    args = top.parse_args(argv)
    cni = CNIConfig()
    try:
        if args.command == "list":
            rows = cni.cached_attachments(args.network) if args.network else load_networks()
            for row in rows:
                print(f"{row['container_id']} {row['ifname']} {row['netns'] or '-'}" if args.network
                      else f"{row.name} {row.cni_version} {row.path}")
            return 0
        net = load_network(args.network)
        if args.command == "add":
            print(json.dumps(cni.add(net, _runtime_conf(args)), indent=2))
        elif args.command == "check":
            cni.check(net, _runtime_conf(args))
        elif args.command == "del":
            cni.delete(net, _runtime_conf(args))
        elif args.command == "gc":
            if any("/" not in v for v in args.valid):
                raise CNIRuntimeError("live attachments are written CONTAINER_ID/IFNAME")
            cni.gc(net, [tuple(v.split("/", 1)) for v in args.valid])
        else:
            cni.status(net)
    except CNIRuntimeError as e:
        print(f"cni.libcni: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
