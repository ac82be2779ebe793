"""host-local ADD+DEL time, pynet and the Go reference side by side in one run.

    .venv/bin/python bench/host_local.py [--runs 30]

Each round runs one ADD and one DEL of each implementation, alternating which goes first, on
separate dataDirs (same range), and prints medians, p90s and the pynet / reference ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(sys.executable)


def run(executable: str, command: str, config: dict, container: str) -> float:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": command, "CNI_CONTAINERID": container,
           "CNI_NETNS": "/run/netns/bench", "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni"}
    start = time.perf_counter()
    done = subprocess.run([executable], input=json.dumps(config).encode(), capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{executable} {command} failed: {done.stdout.decode()} {done.stderr.decode()}")
    return elapsed * 1000


def config(data_dir: str) -> dict:
    return {"cniVersion": "1.0.0", "name": "bench", "type": "bridge",
            "ipam": {"type": "host-local", "dataDir": data_dir, "ranges": [[{"subnet": "10.99.0.0/16"}]],
                     "routes": [{"dst": "0.0.0.0/0"}]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pynet", default=os.path.join(HERE, "pynet-host-local"))
    parser.add_argument("--reference", default="/usr/lib/cni/host-local")
    args = parser.parse_args()
    impls = {"pynet": args.pynet}
    if os.path.exists(args.reference):
        impls["reference"] = args.reference
    else:
        print(f"reference {args.reference} not found: measuring pynet alone")
    times = {(name, cmd): [] for name in impls for cmd in ("ADD", "DEL")}
    with tempfile.TemporaryDirectory() as tmp:
        configs = {name: config(os.path.join(tmp, name)) for name in impls}
        order = list(impls)
        for n in range(args.runs + 3):
            for name in order if n % 2 else reversed(order):
                add = run(impls[name], "ADD", configs[name], f"c{n}")
                delete = run(impls[name], "DEL", configs[name], f"c{n}")
                if n >= 3:  # warm-up rounds are not counted
                    times[(name, "ADD")].append(add)
                    times[(name, "DEL")].append(delete)
    print(f"host-local, {args.runs} runs each (ms)")
    print(f"{'command':8} {'pynet median':>13} {'p90':>7} {'reference median':>17} {'p90':>7} {'ratio':>6}")
    for cmd in ("ADD", "DEL", "ADD+DEL"):
        def series(name):
            if cmd == "ADD+DEL":
                return [a + d for a, d in zip(times[(name, "ADD")], times[(name, "DEL")])]
            return times[(name, cmd)]

        def p90(values):
            return statistics.quantiles(values, n=10)[-1]

        ours = series("pynet")
        line = f"{cmd:8} {statistics.median(ours):13.1f} {p90(ours):7.1f}"
        if "reference" in impls:
            theirs = series("reference")
            line += (f" {statistics.median(theirs):17.1f} {p90(theirs):7.1f}"
                     f" {statistics.median(ours) / statistics.median(theirs):6.2f}")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
