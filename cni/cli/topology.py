"""`pynet topology`: networks, bridges, veths, containers and addresses as a tree, JSON, DOT or SVG."""

from __future__ import annotations

import argparse
import json
import sys

from ..containers import topology


def command_topology(args) -> int:
    model = topology.gather()
    if args.format == "json":
        print(json.dumps(model, indent=2))
    elif args.format == "dot":
        sys.stdout.write(topology.dot(model))
    elif args.format == "svg":
        sys.stdout.buffer.write(topology.svg(model))
    else:
        print(topology.tree(model))
    return 0


def register(sub, _common) -> None:
    p = sub.add_parser("topology", help="the host's networks, bridges, veths and containers")
    p.add_argument("--format", choices=("table", "json", "dot", "svg"), default=argparse.SUPPRESS,
                   help="a text tree (table, the default), json, Graphviz dot text, or svg (needs dot)")
    p.set_defaults(run=command_topology)
