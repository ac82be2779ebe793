"""pynet's DNS server against dnsmasq, side by side in one run, on the same records.

    .venv/bin/python bench/dns.py [--names 50] [--seconds 5] [--clients 4] [--pin]

A simulated host namespace with one bridge carrying two addresses: 10.232.0.1 (pynet's server, from
its records) and 10.232.0.254 (dnsmasq: `--addn-hosts` with the same names, no upstream). A client
namespace on the bridge runs `dnsperf -c CLIENTS` against each for SECONDS, asking the container
names (A, `name.dns.podman`) in turn. Needs dnsperf and dnsmasq (Debian: dnsperf, dnsmasq-base).
Prints queries per second and average latency of each, pynet's ratio (target >= 0.8), then p50 and
p99 latency of each at half of pynet's peak rate (target for pynet's p99: <= 2 ms), with what the
scheduler did to each server meanwhile (/proc/PID/schedstat and status): its CPU, its time waiting
on a run queue while runnable, and how often it was preempted. On a 2-core machine the load generator
and the server share the cores, and a server's tail latency is mostly that wait. `--pin` keeps them
apart, as dnsperf's own advice (client and server on separate machines) would: dnsperf on the first
CPU, both servers on the second.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from cni.dns import daemon, records  # noqa: E402

PREFIX = "pnbd-"
HOST, CLIENT = PREFIX + "h", PREFIX + "c"
PYNET, DNSMASQ = "10.232.0.1", "10.232.0.254"
CLIENT_CPU: list[str] = []  # with --pin: taskset's arguments for dnsperf


def sh(*argv: str, netns: str | None = None, **kw) -> subprocess.CompletedProcess:
    argv = ("ip", "netns", "exec", netns, *argv) if netns else argv
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def setup(names: int, where: str) -> list[str]:
    for ns in (HOST, CLIENT):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", netns=ns)
    sh("ip", "link", "add", "br0", "type", "bridge", netns=HOST)
    for address in (PYNET, DNSMASQ):
        sh("ip", "addr", "add", f"{address}/24", "dev", "br0", netns=HOST)
    sh("ip", "link", "set", "br0", "up", netns=HOST)
    sh("ip", "link", "add", "vc", "type", "veth", "peer", "name", "eth0", "netns", CLIENT, netns=HOST)
    sh("ip", "link", "set", "vc", "master", "br0", "up", netns=HOST)
    sh("ip", "addr", "add", "10.232.0.2/24", "dev", "eth0", netns=CLIENT)
    sh("ip", "link", "set", "eth0", "up", netns=CLIENT)
    hosts = []
    for n in range(names):
        address = f"10.232.{1 + n // 250}.{1 + n % 250}"
        records.write(where, records.Attachment("benchnet", f"id-{n}", "eth0", [f"c{n}"], [f"{address}/16"],
                                                [PYNET], "dns.podman"))
        hosts.append(f"{address} c{n} c{n}.dns.podman")
    return hosts


def dnsperf(server: str, queries: str, seconds: int, clients: int, *extra: str) -> tuple[float, float]:
    out = sh(*CLIENT_CPU, "dnsperf", "-s", server, "-d", queries, "-c", str(clients), "-l", str(seconds), "-q", "200",
             *extra, netns=CLIENT, timeout=seconds + 60).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    latency = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))
    lost = re.search(r"Queries lost:\s+(\d+)", out).group(1)
    print(f"  {server}: {qps:.0f} queries/s, average latency {latency * 1000:.2f} ms, lost {lost}")
    return qps, latency


def scheduled(pid: int) -> tuple[float, float, int]:
    """The process's CPU seconds, seconds runnable but waiting for a CPU, and involuntary switches."""
    with open(f"/proc/{pid}/schedstat") as f:
        ran, waited, _ = (int(n) for n in f.read().split())
    with open(f"/proc/{pid}/status") as f:
        preempted = int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", f.read()).group(1))
    return ran / 1e9, waited / 1e9, preempted


def percentiles(server: str, pid: int, queries: str, rate: float, seconds: int, clients: int) -> tuple[float, float]:
    """p50 and p99 latency (ms) at `rate` queries/s, from dnsperf's verbose lines (one per answer)."""
    before = scheduled(pid)
    out = sh(*CLIENT_CPU, "dnsperf", "-s", server, "-d", queries, "-c", str(clients), "-l", str(seconds), "-Q",
             str(int(rate)), "-v", netns=CLIENT, timeout=seconds + 60).stdout
    ran, waited, preempted = (b - a for a, b in zip(before, scheduled(pid)))
    latencies = sorted(float(line.split()[-1]) for line in out.splitlines() if line.startswith("> "))
    if not latencies:
        raise SystemExit("dnsperf -v printed no latencies")
    p50, p99 = (latencies[int(len(latencies) * q)] * 1000 for q in (0.5, 0.99))
    print(f"  {server} at {rate:.0f} queries/s: p50 {p50:.3f} ms, p99 {p99:.3f} ms ({len(latencies)} answers); "
          f"the server: CPU {ran / seconds:.0%}, waiting for a CPU {waited / seconds:.0%} of the time, "
          f"preempted {preempted / seconds:.0f} times/s")
    return p50, p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pin", action="store_true", help="dnsperf on the first CPU, the servers on the second")
    args = parser.parse_args()
    for tool in ("dnsperf", "dnsmasq"):
        if not shutil.which(tool):
            print(f"{tool} is missing (Debian: dnsperf, dnsmasq-base)", file=sys.stderr)
            return 1
    work = tempfile.mkdtemp(prefix="pynet-bench-dns.")
    where = os.path.join(work, "records")
    dnsmasq = None
    try:
        hosts = setup(args.names, where)
        with open(os.path.join(work, "hosts"), "w") as f:
            f.write("\n".join(hosts) + "\n")
        with open(os.path.join(work, "queries"), "w") as f:
            f.write("".join(f"c{n}.dns.podman A\n" for n in range(args.names)))
        dnsmasq = subprocess.Popen(["ip", "netns", "exec", HOST, "dnsmasq", "--keep-in-foreground", "--no-resolv",
                                    "--no-hosts", f"--addn-hosts={work}/hosts", f"--listen-address={DNSMASQ}",
                                    "--bind-interfaces", "--user=root", "--pid-file=", "--log-facility=-"],
                                   stderr=subprocess.DEVNULL)
        daemon.ensure_running(f"/run/netns/{HOST}", where)
        sh("sleep", "1")
        pynet_pid = daemon.running(f"/run/netns/{HOST}")
        if args.pin:
            CLIENT_CPU[:] = ["taskset", "-c", "0"]
            for pid in (pynet_pid, dnsmasq.pid):
                os.sched_setaffinity(pid, {1})
        print(f"{args.names} names, dnsperf -c {args.clients} for {args.seconds} s each"
              f"{' (dnsperf on CPU 0, the servers on CPU 1)' if args.pin else ''}:")
        ours, _ = dnsperf(PYNET, f"{work}/queries", args.seconds, args.clients)
        theirs, _ = dnsperf(DNSMASQ, f"{work}/queries", args.seconds, args.clients)
        print(f"pynet / dnsmasq: {ours / theirs:.2f} (target >= 0.8)")
        print(f"latency at half of pynet's peak ({ours / 2:.0f} queries/s):")
        for server in (PYNET, DNSMASQ):
            dnsperf(server, f"{work}/queries", args.seconds, args.clients, "-Q", str(int(ours / 2)))
        _, p99 = percentiles(PYNET, pynet_pid, f"{work}/queries", ours / 2, args.seconds, args.clients)
        percentiles(DNSMASQ, dnsmasq.pid, f"{work}/queries", ours / 2, args.seconds, args.clients)
        print(f"pynet's p99: {p99:.2f} ms (target <= 2 ms)")
        return 0
    finally:
        if dnsmasq is not None:
            dnsmasq.kill()
            dnsmasq.wait()
        shutil.rmtree(where, ignore_errors=True)  # the server leaves with its last record
        subprocess.run(["sleep", "1.5"])
        for ns in (CLIENT, HOST):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
