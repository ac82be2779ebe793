"""`pynet`: the admin command line. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..plugins.overlay import cli as overlay
from . import agent, lab, plugins


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pynet", description="pynet: container networking (CNI) in Python")
    top.add_argument("--version", action="version", version=f"pynet {__version__}")
    top.add_argument("--format", choices=("table", "json"), default="table",
                     help="output for people (table, the default) or for scripts (json)")
    sub = top.add_subparsers(dest="command", required=True)
    plugins.register(sub)
    agent.register(sub)
    overlay.register(sub)
    lab.register(sub)
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
        print(f"pynet: {e}", file=sys.stderr)
        return 1
