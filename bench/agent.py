"""The fast path: pynet plugins through a warm `pynet agent`, cold in-process, and the Go reference,
side by side in one run (medians).

    .venv/bin/python bench/agent.py [--runs 30] [--concurrent 100]

1. bridge (with host-local) ADD and DEL, one call each, each in a fresh container namespace.
2. Podman's chain of four (bridge, portmap with one mapping, firewall, tuning): ADD of the chain.
3. --concurrent ADDs at once on one network (then as many DELs): wall time.
4. bridge ADD and DEL in-process (PYNET_AGENT=off): a cold Python start with every import.
5. dnsname after bridge (pynet's through the warm agent; the reference: Debian's dnsname plugin,
   golang-github-containernetworking-plugin-dnsname, with dnsmasq), on one network: the first
   container's ADD (the DNS server starts), then a second container's bridge and dnsname ADDs (the
   server runs), and whether the second name answers the moment its ADD returns. `--dnsname` runs
   this part alone (target: pynet's dnsname ADD with the server running <= 5 ms).
Every call runs under `ip netns exec HOST`, as a runtime on that host would make it.
Every implementation works in a simulated host namespace of its own; nothing outside this run's
namespaces is touched. Exits 0 when everything ran (targets met or not), 1 when something failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import sys
import time

from benchlab import PREFIX, BenchError, Impl, Lab, call, in_lab, install_pynet, p90, plugin_arguments, require
from dnsname_add import dnsname_report, dnsname_rounds

WARMUP = 3
TARGETS = {"bridge ADD": 0.8, "bridge DEL": 0.4, "chain ADD": 0.8, "concurrent ADD": 1.0, "cold bridge DEL": 1.0}


def bridge_conf(impl: Impl, name: str = "benchnet") -> dict:
    device, subnet = ("pnbr1", "10.90.0.0/16") if name == "dnsnet" else ("pnbr0", "10.89.0.0/16")
    return {"cniVersion": "1.0.0", "name": name, "type": "bridge", "bridge": device, "isGateway": True,
            "ipMasq": True, "ipam": {"type": "host-local", "dataDir": impl.data, "ranges": [[{"subnet": subnet}]],
                                     "routes": [{"dst": "0.0.0.0/0"}]}}


def chain(impl: Impl) -> list[tuple[str, dict]]:
    """Podman 4's default network as CNI plugins (its 87-podman-bridge.conflist), one port published."""
    return [("bridge", bridge_conf(impl, "podman")),
            ("portmap", {"type": "portmap", "capabilities": {"portMappings": True},
                         "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}}),
            ("firewall", {"type": "firewall"}),
            ("tuning", {"type": "tuning"})]


def run_chain(impl: Impl, container: str, cid: str) -> tuple[float, dict]:
    total, prev = 0.0, None
    for plugin, conf in chain(impl):
        conf = {"cniVersion": "1.0.0", "name": "podman", **conf}
        if prev is not None:
            conf["prevResult"] = prev
        elapsed, result = call(impl, plugin, "ADD", conf, container, cid)
        total, prev = total + elapsed, result
    return total, prev


def del_chain(impl: Impl, container: str, cid: str, result: dict) -> None:
    for plugin, conf in reversed(chain(impl)):
        call(impl, plugin, "DEL", {"cniVersion": "1.0.0", "name": "podman", **conf, "prevResult": result}, container, cid)


def sequential(lab: Lab, impls: list[Impl], runs: int) -> dict:
    times: dict = {}
    for n in range(WARMUP + runs):
        for impl in impls if n % 2 else list(reversed(impls)):
            container, cid = lab.netns(f"{impl.name[:4]}-s{n}"), f"seq{n}"
            conf = bridge_conf(impl)
            add, result = call(impl, "bridge", "ADD", conf, container, cid)
            delete, _ = call(impl, "bridge", "DEL", {**conf, "prevResult": result}, container, cid)
            chain_add, chain_result = run_chain(impl, container, f"chain{n}")
            del_chain(impl, container, f"chain{n}", chain_result)
            lab.drop(container)
            if n >= WARMUP:
                for figure, value in (("bridge ADD", add), ("bridge DEL", delete), ("chain ADD", chain_add)):
                    times.setdefault((impl.name, figure), []).append(value)
    return times


def concurrent_adds(lab: Lab, impl: Impl, count: int) -> tuple[float, float]:
    """Wall times (ms) of `count` ADDs at once on one network, then of their DELs at once."""
    containers = [lab.netns(f"{impl.name[:4]}-p{n}") for n in range(count)]
    conf = bridge_conf(impl, "burst")
    results: dict = {}

    def add(n):
        results[n] = call(impl, "bridge", "ADD", conf, containers[n], f"burst{n}")[1]

    def delete(n):
        call(impl, "bridge", "DEL", {**conf, "prevResult": results[n]}, containers[n], f"burst{n}")

    walls = []
    for work in (add, delete):
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            list(pool.map(work, range(count)))
        walls.append((time.perf_counter() - start) * 1000)
    addresses = [r["ips"][0]["address"] for r in results.values()]
    if len(set(addresses)) != count:
        raise BenchError(f"{impl.name}: {count} concurrent ADDs got {len(set(addresses))} distinct addresses")
    lab.drop(*containers)
    return walls[0], walls[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--dnsname", action="store_true", help="part 5 alone: dnsname's ADD")
    plugin_arguments(parser)
    args = parser.parse_args()
    require(args, "bench/agent.py", ("bridge", "host-local", "dnsname") if args.dnsname else
            ("bridge", "host-local", "portmap", "firewall", "tuning", "dnsname"))
    return in_lab("bench/agent.py", lambda lab: measure(lab, args))


def measure(lab: Lab, args) -> None:
    cni_path = install_pynet(lab, args.pynet_dir)
    run_dir = os.path.join(lab.tmp, "run")
    warm = Impl("pynet", cni_path, {"PYNET_AGENT": "auto", "PYNET_RUN_DIR": run_dir,
                                    "PYNET_STATE_DIR": os.path.join(lab.tmp, "state")})
    cold = Impl("cold", cni_path, {"PYNET_AGENT": "off"})
    ref = Impl("reference", args.reference_dir, {"XDG_RUNTIME_DIR": os.path.join(lab.tmp, "xdg")})  # dnsname's files
    impls = [warm, ref] if args.dnsname else [warm, cold, ref]
    for impl in impls:
        impl.host, impl.data = lab.netns(f"{impl.name[:4]}-h"), os.path.join(lab.tmp, f"ipam-{impl.name}")
    print(f"bench/agent.py: pynet {cni_path} (agent warm / in-process cold) vs reference {args.reference_dir}; "
          f"namespaces {PREFIX}-*; {os.cpu_count()} CPUs, kernel {os.uname().release}, load {os.getloadavg()[0]:.1f}")
    if not args.dnsname:
        times = sequential(lab, impls, args.runs)
        bursts = {impl.name: concurrent_adds(lab, impl, args.concurrent) for impl in (warm, ref)}
        report(times, bursts, args)
    dnsname_report(dnsname_rounds(lab, [warm, ref], args.runs, WARMUP, bridge_conf), args.runs)


def report(times: dict, bursts: dict, args) -> None:
    med = {key: statistics.median(values) for key, values in times.items()}
    print(f"\n{args.runs} runs each after {WARMUP} warm-up rounds, medians (p90) in ms")
    print(f"   {'figure':<16}{'pynet warm':>16}{'in-process':>16}{'reference':>16}{'warm/ref':>10}{'cold/ref':>10}")
    for figure in ("bridge ADD", "bridge DEL", "chain ADD"):
        cells = [f"{med[(n, figure)]:8.1f} ({p90(times[(n, figure)]):5.1f})" for n in ("pynet", "cold", "reference")]
        ref = med[("reference", figure)]
        print(f"   {figure:<16}{cells[0]:>16}{cells[1]:>16}{cells[2]:>16}"
              f"{med[('pynet', figure)] / ref:10.2f}{med[('cold', figure)] / ref:10.2f}")
    n = args.concurrent
    print(f"\n{n} concurrent ADDs on one network, then {n} concurrent DELs: wall time in ms")
    print(f"   {'':<16}{'pynet warm':>16}{'reference':>16}{'ratio':>10}")
    for i, what in enumerate(("ADD", "DEL")):
        print(f"   {what:<16}{bursts['pynet'][i]:16.0f}{bursts['reference'][i]:16.0f}"
              f"{bursts['pynet'][i] / bursts['reference'][i]:10.2f}")
    ratios = {figure: med[("pynet", figure)] / med[("reference", figure)] for figure in ("bridge ADD", "bridge DEL", "chain ADD")}
    ratios["concurrent ADD"] = bursts["pynet"][0] / bursts["reference"][0]
    ratios["cold bridge DEL"] = med[("cold", "bridge DEL")] / med[("reference", "bridge DEL")]
    print("\nTargets (pynet warm, or cold in-process, / reference)")
    for figure, target in TARGETS.items():
        print(f"   {figure:<16} <= {target:<4} {'met' if ratios[figure] <= target else 'NOT met':<8} {ratios[figure]:.2f}")
    print(f"   cold in-process bridge ADD / reference: {med[('cold', 'bridge ADD')] / med[('reference', 'bridge ADD')]:.2f} (reported)")


if __name__ == "__main__":
    sys.exit(main())
