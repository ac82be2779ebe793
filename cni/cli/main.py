"""`pynet`: the admin command line. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from . import overlay
from . import agent, containers, lab, networks, plugins, topology

FORMATS = ("table", "json")


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (`pynet run: error: ...`) instead of two."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="pynet", description="pynet: container networking (CNI) in Python")
    top.add_argument("--version", action="version", version=f"pynet {__version__}")
    top.add_argument("--format", choices=FORMATS, default="table",
                     help="output for people (table, the default) or for scripts (json)")
    # the same option after the command (`pynet ps --format json`); it wins over the one before
    common = Parser(add_help=False)
    common.add_argument("--format", choices=FORMATS, default=argparse.SUPPRESS, help="table (default) or json")
    sub = top.add_subparsers(dest="command", required=True)
    plugins.register(sub, common)
    agent.register(sub, common)
    containers.register(sub, common)
    networks.register(sub, common)
    topology.register(sub, common)
    overlay.register(sub, common)
    lab.register(sub, common)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one line for people, the traceback only when asked
        if os.environ.get("PYNET_DEBUG") == "1":
            raise
        print(f"pynet: {' '.join(str(e).split()) or type(e).__name__}", file=sys.stderr)
        return 1
