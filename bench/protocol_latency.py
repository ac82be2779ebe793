"""VERSION and protocol-error latency of pynet's loopback and the Go reference, side by side in one run.

    .venv/bin/python bench/protocol_latency.py [--runs 30]

Measures the wall time of spawning the plugin (stdin piped, output captured) for VERSION and for five protocol
errors (unknown CNI_COMMAND, non-JSON stdin, unsupported cniVersion, invalid CNI_CONTAINERID, missing CNI_IFNAME).
pynet's plugin is the executable a runtime runs: the launcher `pynet plugins install` writes (installed into a
temporary directory unless --pynet names one). Beside them, the floor of any Python plugin: an interpreter
started as the launcher starts it (`-I -S`) that does nothing. The runs alternate (which goes first rotates each
round), after a few warm-up rounds that are not counted. Every run's output is checked: exit 0 and a VERSION
answer for VERSION, a non-zero exit and a JSON error object with the expected code for the errors. The exit
status is non-zero if any check failed or a pynet median is not under the 60 ms target, so the script can be
used in CI; VERSION's ratio to the reference is reported against its target (2).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(sys.executable)
TARGET_MS = 60.0
VERSION_TARGET = 2.0  # VERSION's median over the reference's
TIMEOUT_S = 10.0

# The reference supports CNI up to 1.0.0: the cases not about the version use 1.0.0.
CONFIG = json.dumps({"cniVersion": "1.0.0", "name": "bench", "type": "loopback"}).encode()
ADD_ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bench", "CNI_NETNS": "/run/netns/does-not-exist",
           "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni"}

# name, CNI_* environment, stdin, expected error code (None: VERSION, which must succeed)
CASES = [
    ("VERSION", {"CNI_COMMAND": "VERSION"}, b'{"cniVersion":"1.1.0"}', None),
    ("unknown CNI_COMMAND FOO", {**ADD_ENV, "CNI_COMMAND": "FOO"}, CONFIG, 4),
    ("ADD non-JSON stdin", ADD_ENV, b"this is not JSON", 6),
    ("ADD cniVersion 9.9.9", ADD_ENV,
     json.dumps({"cniVersion": "9.9.9", "name": "bench", "type": "loopback"}).encode(), 1),
    ("ADD CNI_CONTAINERID with /", {**ADD_ENV, "CNI_CONTAINERID": "bad/id"}, CONFIG, 4),
    ("ADD without CNI_IFNAME", {k: v for k, v in ADD_ENV.items() if k != "CNI_IFNAME"}, CONFIG, 4),
]


def run(executable: str, env: dict, stdin: bytes, expected_code: int | None) -> tuple[float | None, str]:
    """Spawn the plugin once: (elapsed ms or None on timeout, "" or why the output is wrong)."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    if os.environ.get("PYNET_RUN_DIR"):  # where the ADD errors' agent lives (they go to it, as any ADD)
        full_env["PYNET_RUN_DIR"] = os.environ["PYNET_RUN_DIR"]
    start = time.perf_counter()
    try:
        done = subprocess.run([executable], input=stdin, capture_output=True, env=full_env, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"no answer within {TIMEOUT_S:.0f} s"
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, check(done, expected_code)


def check(done: subprocess.CompletedProcess, expected_code: int | None) -> str:
    """Why the plugin's answer is wrong ("" if it is right)."""
    out = done.stdout.decode(errors="replace")
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    shown = " ".join(out.split())[:200] or f"(no stdout; stderr: {done.stderr.decode(errors='replace')[:200]!r})"
    if not isinstance(answer, dict):
        return f"exit {done.returncode}, stdout is not a JSON object: {shown}"
    if expected_code is None:
        if done.returncode != 0:
            return f"VERSION exited {done.returncode}: {shown}"
        if not isinstance(answer.get("supportedVersions"), list):
            return f"VERSION answer has no supportedVersions list: {shown}"
        return ""
    if done.returncode == 0:
        return f"exited 0 instead of failing: {shown}"
    if not isinstance(answer.get("msg"), str) or not isinstance(answer.get("code"), int):
        return f"not a CNI error object (code, msg): {shown}"
    if answer["code"] != expected_code:
        return f"error code {answer['code']}, expected {expected_code}: {shown}"
    return ""


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="measured runs per case and implementation")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted warm-up rounds (default 3)")
    parser.add_argument("--pynet", default="", help="pynet's loopback executable (default: a launcher "
                        "installed by `pynet plugins install` into a temporary directory)")
    parser.add_argument("--reference", default="/usr/lib/cni/loopback")
    args = parser.parse_args()
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    installed = "" if args.pynet else tempfile.mkdtemp(prefix="pynet-bench-")
    try:
        if installed:
            subprocess.run([os.path.join(HERE, "pynet"), "plugins", "install", "--dir", installed, "--names",
                            "reference"], check=True, capture_output=True)
            args.pynet = os.path.join(installed, "loopback")
        return measure(args)
    finally:
        if installed:
            shutil.rmtree(installed, ignore_errors=True)


def floor_run(python: str) -> float:
    """An interpreter started as pynet's launcher starts it (-I -S) that does nothing: ms."""
    start = time.perf_counter()
    subprocess.run([python, "-I", "-S", "-c", "pass"], capture_output=True, timeout=TIMEOUT_S)
    return (time.perf_counter() - start) * 1000


def launcher_python(path: str) -> str:
    with open(path, "rb") as f:
        first = f.readline().decode(errors="replace")
    return first[2:].split()[0] if first.startswith("#!") else sys.executable


def measure(args) -> int:
    if not executable(args.pynet):
        print(f"pynet plugin {args.pynet} not found or not executable", file=sys.stderr)
        return 2
    impls = {"pynet": args.pynet}
    if executable(args.reference):
        impls["reference"] = args.reference
    else:
        print(f"reference {args.reference} not found: measuring pynet alone")
    python = launcher_python(args.pynet)
    floor: list[float] = []

    times = {(name, case[0]): [] for name in impls for case in CASES}
    failures = {(name, case[0]): [] for name in impls for case in CASES}
    order = list(impls)
    for n in range(args.warmup + args.runs):
        for case, env, stdin, code in CASES:
            for name in order if n % 2 else reversed(order):  # alternate which implementation goes first
                elapsed, problem = run(impls[name], env, stdin, code)
                if problem:
                    failures[(name, case)].append(problem)
                if elapsed is not None and n >= args.warmup:
                    times[(name, case)].append(elapsed)
            if case == "VERSION" and n >= args.warmup:
                floor.append(floor_run(python))

    width = max(len(case[0]) for case in CASES)
    print(f"pynet {args.pynet}")
    if "reference" in impls:
        print(f"reference {args.reference}")
    print(f"loopback VERSION and protocol errors, {args.runs} runs each after {args.warmup} warm-up (ms)")
    print(f"{'case':{width}} {'pynet median':>13} {'pynet p90':>10} {'reference median':>17} {'ratio':>6}")
    met = True
    for case, *_ in CASES:
        ours = times[("pynet", case)]
        if ours:
            median = statistics.median(ours)
            met = met and median < TARGET_MS
            line = f"{case:{width}} {median:13.1f} {p90(ours):10.1f}"
        else:
            met = False
            line = f"{case:{width}} {'-':>13} {'-':>10}"
        theirs = times.get(("reference", case))
        if theirs and ours:
            line += f" {statistics.median(theirs):17.1f} {statistics.median(ours) / statistics.median(theirs):6.2f}"
        elif theirs:
            line += f" {statistics.median(theirs):17.1f} {'-':>6}"
        else:
            line += f" {'-':>17} {'-':>6}"
        print(line)

    versions = times[("pynet", "VERSION")], times.get(("reference", "VERSION"))
    print(f"{'(Python floor: ' + python + ' -I -S -c pass)':{width}} {statistics.median(floor):13.1f} {p90(floor):10.1f}"
          + (f" {statistics.median(versions[1]):17.1f} {statistics.median(floor) / statistics.median(versions[1]):6.2f}"
             if versions[1] else ""))
    failed = 0
    for (name, case), problems in failures.items():
        if problems:
            failed += len(problems)
            print(f"FAILED {name} {case}: {len(problems)} of {args.warmup + args.runs} runs; first: {problems[0]}")
    total = len(impls) * len(CASES) * (args.warmup + args.runs)
    print(f"sanity checks: {total - failed} of {total} runs answered as expected, {failed} failed")
    print(f"target: pynet VERSION and protocol errors < {TARGET_MS:.0f} ms: {'met' if met else 'NOT met'}")
    if versions[0] and versions[1]:
        ratio = statistics.median(versions[0]) / statistics.median(versions[1])
        print(f"target: pynet VERSION <= {VERSION_TARGET:.0f} x the reference's: {'met' if ratio <= VERSION_TARGET else 'NOT met'} "
              f"({ratio:.2f}; an interpreter that does nothing: {statistics.median(floor) / statistics.median(versions[1]):.2f})")
    return 0 if met and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
