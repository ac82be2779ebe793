"""VERSION and protocol-error latency of pynet-loopback and the Go reference, side by side in one run.

    .venv/bin/python bench/protocol_latency.py [--runs 30]

Measures the wall time of spawning the plugin (stdin piped, output captured) for VERSION and for five protocol
errors (unknown CNI_COMMAND, non-JSON stdin, unsupported cniVersion, invalid CNI_CONTAINERID, missing CNI_IFNAME).
The runs of pynet and the reference alternate (which goes first flips each round), after a few warm-up rounds
that are not counted. Every run's output is checked: exit 0 and a VERSION answer for VERSION, a non-zero exit and
a JSON error object with the expected code for the errors. The exit status is non-zero if any check failed or a
pynet median is not under the 60 ms target, so the script can be used in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(sys.executable)
TARGET_MS = 60.0
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
    parser.add_argument("--pynet", default=os.path.join(HERE, "pynet-loopback"))
    parser.add_argument("--reference", default="/usr/lib/cni/loopback")
    args = parser.parse_args()
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    if not executable(args.pynet):
        print(f"pynet plugin {args.pynet} not found or not executable", file=sys.stderr)
        return 2
    impls = {"pynet": args.pynet}
    if executable(args.reference):
        impls["reference"] = args.reference
    else:
        print(f"reference {args.reference} not found: measuring pynet alone")

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

    failed = 0
    for (name, case), problems in failures.items():
        if problems:
            failed += len(problems)
            print(f"FAILED {name} {case}: {len(problems)} of {args.warmup + args.runs} runs; first: {problems[0]}")
    total = len(impls) * len(CASES) * (args.warmup + args.runs)
    print(f"sanity checks: {total - failed} of {total} runs answered as expected, {failed} failed")
    print(f"target: pynet VERSION and protocol errors < {TARGET_MS:.0f} ms: {'met' if met else 'NOT met'}")
    return 0 if met and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
