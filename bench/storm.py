"""The crash storm's figures for docs/benchmarks.md: ADDs and DELs all at once across four bridge + portmap
networks while plugin processes and the pynet agent are killed with kill -9, then the runtime's DEL
and GC (tests/integration/storm.py, which tests/integration/test_storm.py asserts on).

    .venv/bin/python bench/storm.py [--ops 200] [--rounds 3] [--seed N] [--in-process] [--json]

Prints operations by outcome (CNI error codes), kills, duplicate addresses, errors of the final DEL
and GC, leftovers by kind and durations. Everything runs in namespaces and a directory of this run,
removed at the end. Exits 0 when the storm ran and left nothing, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile

from benchlab import PREFIX

from tests.integration.storm import Storm, summary
from tests.netns import Netns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200, help="ADD/DEL tasks per round, all at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, help="the storm's random seed (printed; random by default)")
    parser.add_argument("--in-process", action="store_true", help="plugins in-process (PYNET_AGENT=off): "
                        "only plugin processes are killed")
    parser.add_argument("--json", action="store_true", help="every figure as JSON")
    args = parser.parse_args()
    if args.in_process:
        os.environ["PYNET_AGENT"] = "off"
    made: list[Netns] = []

    def make_netns(role: str) -> Netns:
        made.append(Netns(f"{PREFIX}-{role}{len(made)}"))
        return made[-1]

    work = tempfile.mkdtemp(prefix=f"{PREFIX}-")
    try:
        figures = Storm(make_netns, work, secrets.token_hex(3), args.ops, args.rounds, args.seed).run()
    finally:
        for ns in reversed(made):
            ns.delete()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=1) if args.json else summary(figures))
    clean = not figures["duplicate addresses"] and not figures["final DEL errors"] and not figures["GC errors"] \
        and not any(figures["leftovers"].values())
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
