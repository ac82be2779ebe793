"""Many containers on one host: ADD and DEL latency of bridge + portmap as the host fills up, pynet
through its agent and the Go reference side by side in one run.

    .venv/bin/python bench/scale.py [--counts 10,100,500,1000] [--max N] [--probes 10] [--quick]

Each implementation gets a simulated host namespace with one bridge network; every container (a
namespace of its own) is attached with bridge (host-local, isGateway, ipMasq) and portmap (one
published port, its own host port), each plugin call under `ip netns exec HOST` as a runtime makes
it. The hosts are filled in step, one container of each implementation at a time. Beside them, each
implementation has a small host that stays at the smallest count. At each count, --probes rounds
ADD one more container to every host (bridge, then portmap) and DEL it again (portmap, then bridge),
the hosts taking turns; the medians are the figures, and a host's growth is its figure over its
small host's from the same rounds (on a busy machine, minutes apart would measure the load).
Also at each count: what the kernel itself takes to add a veth pair to pynet's bridge (hand-made
netlink from this process, no plugin), and the memory of the pynet agent's processes (RSS summed,
and PSS, which counts pages the forked workers share once).

Targets: pynet's ADD and DEL at the largest count <= 1.25 x at the smallest; pynet's ADD at the
largest count <= 0.5 x the reference's. --quick (for CI) stops at 100 containers with 5 probes.
Everything lives in namespaces "pnbench-<pid>-*", removed at the end. Exits 0 when everything ran
(targets met or not), 1 when something failed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from benchlab import PREFIX, Impl, Lab, call, in_lab, install_pynet, plugin_arguments, require

BRIDGE = "pnbr0"
FIRST_PORT = 20000
PROBE_PORT = 19999
WARMUP = 3
TARGET_GROWTH = 1.25
TARGET_VS_REFERENCE = 0.5


def bridge_conf(impl: Impl) -> dict:
    return {"cniVersion": "1.0.0", "name": "scalenet", "type": "bridge", "bridge": BRIDGE, "isGateway": True,
            "ipMasq": True, "ipam": {"type": "host-local", "dataDir": impl.data, "ranges": [[{"subnet": "10.90.0.0/16"}]],
                                     "routes": [{"dst": "0.0.0.0/0"}]}}


def portmap_conf(port: int, prev: dict) -> dict:
    return {"cniVersion": "1.0.0", "name": "scalenet", "type": "portmap", "capabilities": {"portMappings": True},
            "runtimeConfig": {"portMappings": [{"hostPort": port, "containerPort": 80, "protocol": "tcp"}]},
            "prevResult": prev}


def attach(impl: Impl, container: str, cid: str, port: int) -> tuple[float, dict]:
    """bridge ADD then portmap ADD: (ms, the chain's result)."""
    t1, result = call(impl, "bridge", "ADD", bridge_conf(impl), container, cid)
    t2, result = call(impl, "portmap", "ADD", portmap_conf(port, result), container, cid)
    return t1 + t2, result


def detach(impl: Impl, container: str, cid: str, port: int, result: dict) -> float:
    """portmap DEL then bridge DEL (ms)."""
    t1, _ = call(impl, "portmap", "DEL", portmap_conf(port, result), container, cid)
    t2, _ = call(impl, "bridge", "DEL", {**bridge_conf(impl), "prevResult": result}, container, cid)
    return t1 + t2


def fill(lab: Lab, hosts: list[Impl], have: int, want: int) -> None:
    """Attach containers have..want-1 to each of `hosts`, one container of each at a time."""
    lab.netns_many([f"{host.label}-c{n}" for n in range(have, want) for host in hosts])
    for n in range(have, want):
        for host in hosts if n % 2 else reversed(hosts):
            attach(host, f"{PREFIX}-{host.label}-c{n}", f"c{n}", FIRST_PORT + n)


def probe(hosts: list[Impl], count: int, rounds: int, times: dict) -> None:
    """ADD and DEL one more container in each host, `rounds` times, in rotating order: the figures
    of a host at `count` containers (and of the small hosts beside it) come from the same minutes."""
    for r in range(rounds):
        for host in hosts[r % len(hosts):] + hosts[:r % len(hosts)]:
            cid = f"probe{count}x{r}"
            add, result = attach(host, host.probe, cid, PROBE_PORT)
            delete = detach(host, host.probe, cid, PROBE_PORT, result)
            times.setdefault((host.label, "ADD", count), []).append(add)
            times.setdefault((host.label, "DEL", count), []).append(delete)


def kernel_veth(host: str, container: str, rounds: int) -> tuple[float, float]:
    """What the kernel takes to add a veth pair to the host's bridge (add, enslave, up) and to
    delete it, measured from this process with hand-made netlink: medians in ms."""
    from cni.kernel import rtnl
    from cni.kernel.netns import entered, open_netns

    with entered(f"/run/netns/{host}"):
        sock = rtnl.Rtnl()
    peer_ns = open_netns(f"/run/netns/{container}")
    adds, deletes = [], []
    try:
        bridge = sock.get_link(name=BRIDGE).index
        for r in range(rounds):
            name = f"pnk{os.getpid() % 10000}x{r}"
            start = time.perf_counter()
            sock.add_veth(name, "kprobe0", peer_ns)
            index = sock.get_link(name=name).index
            sock.set_link(index, up=True, master=bridge)
            adds.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            sock.delete_link(index)
            deletes.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(peer_ns)
        sock.close()
    return statistics.median(adds), statistics.median(deletes)


def agent_memory(host: str) -> tuple[float, float, int]:
    """(RSS summed, PSS summed, process count) of the pynet agent serving `host`, in MiB."""
    from cni.kernel.netns import pids_in

    rss = pss = 0
    count = 0
    for pid in pids_in(f"/run/netns/{host}"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"cni.agent.supervisor" not in f.read():
                    continue
            with open(f"/proc/{pid}/smaps_rollup") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line and not line.startswith(" "))
        except OSError:
            continue
        rss += int(fields["Rss"].split()[0])
        pss += int(fields["Pss"].split()[0])
        count += 1
    return rss / 1024, pss / 1024, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100,500,1000", help="container counts to measure at")
    parser.add_argument("--max", type=int, default=0, help="stop at this many containers")
    parser.add_argument("--probes", type=int, default=10, help="ADD+DEL rounds per count and host")
    parser.add_argument("--quick", action="store_true", help="--max 100 --probes 5 (for CI)")
    plugin_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.max, args.probes = args.max or 100, 5
    counts = sorted({int(c) for c in args.counts.split(",") if c.strip()})
    if args.max:
        counts = sorted({c for c in counts if c < args.max} | {args.max})
    if not counts or counts[0] < 1 or counts[-1] > 1020 or args.probes < 1:
        parser.error("counts must be 1..1020 (a Linux bridge takes 1023 ports) and --probes at least 1")
    require(args, "bench/scale.py", ("bridge", "host-local", "portmap"))
    return in_lab("bench/scale.py", lambda lab: measure(lab, args, counts))


def measure(lab: Lab, args, counts: list[int]) -> None:
    cni_path = install_pynet(lab, args.pynet_dir)
    hosts = {}
    for label in ("pynet", "pynet-small", "ref", "ref-small"):
        impl = (Impl(label, cni_path, {"PYNET_AGENT": "auto", "PYNET_RUN_DIR": os.path.join(lab.tmp, "run")})
                if label.startswith("pynet") else Impl(label, args.reference_dir))
        impl.label, impl.host = label, lab.netns(f"{label}-h")
        impl.data, impl.probe = os.path.join(lab.tmp, f"ipam-{label}"), lab.netns(f"{label}-probe")
        hosts[label] = impl
    kernel_probe = lab.netns("kernel-probe")
    print(f"bench/scale.py: pynet {cni_path} (agent) vs reference {args.reference_dir}; bridge + portmap; "
          f"counts {counts}, {args.probes} probes each; namespaces {PREFIX}-*; {os.cpu_count()} CPUs, "
          f"kernel {os.uname().release}, load {os.getloadavg()[0]:.1f}", flush=True)
    everyone = list(hosts.values())
    fill(lab, everyone, 0, counts[0])  # the small hosts stay at the smallest count
    probe(everyone, 0, WARMUP, {})  # starts pynet's agents; not counted
    times: dict = {}
    kernel: dict = {}
    memory: dict = {}
    have = counts[0]
    for count in counts:
        fill(lab, [hosts["pynet"], hosts["ref"]], have, count)
        have = count
        probe(everyone, count, args.probes, times)
        kernel[count] = kernel_veth(hosts["pynet"].host, kernel_probe, args.probes)
        memory[count] = agent_memory(hosts["pynet"].host)
        line(counts, count, times, kernel, memory)
    report(counts, times, kernel, memory)


def med(times: dict, label: str, what: str, count: int) -> float:
    return statistics.median(times[(label, what, count)])


def growth(times: dict, impl: str, what: str, count: int) -> float:
    """The figure of the host at `count` over that of its small host, measured in the same rounds."""
    return med(times, impl, what, count) / med(times, f"{impl}-small", what, count)


def line(counts: list[int], count: int, times: dict, kernel: dict, memory: dict) -> None:
    if count == counts[0]:
        print(f"\nmedians in ms; 'x{counts[0]}': over the same figure of a host with {counts[0]} containers, "
              f"measured in the same rounds")
        print(f"{'':>10} {'pynet ADD':>18} {'reference ADD':>18} {'pynet':>6} {'pynet DEL':>18} "
              f"{'reference DEL':>18} {'pynet':>6} {'kernel veth':>12} {'pynet agent':>16}")
        print(f"{'containers':>10} {'ms':>8} {'x' + str(counts[0]):>9} {'ms':>8} {'x' + str(counts[0]):>9} {'/ ref':>6} "
              f"{'ms':>8} {'x' + str(counts[0]):>9} {'ms':>8} {'x' + str(counts[0]):>9} {'/ ref':>6} "
              f"{'add / del':>12} {'RSS / PSS MiB':>16}")
    cells = []
    for what in ("ADD", "DEL"):
        for impl in ("pynet", "ref"):
            cells.append(f"{med(times, impl, what, count):8.1f} {growth(times, impl, what, count):9.2f}")
        cells.append(f"{med(times, 'pynet', what, count) / med(times, 'ref', what, count):6.2f}")
    rss, pss, procs = memory[count]
    print(f"{count:>10} {' '.join(cells)} {kernel[count][0]:5.1f} /{kernel[count][1]:5.1f} "
          f"{rss:7.1f} /{pss:6.1f} ({procs})", flush=True)


def report(counts: list[int], times: dict, kernel: dict, memory: dict) -> None:
    first, last = counts[0], counts[-1]
    print(f"\nFrom {first} to {last} containers: kernel veth add x{kernel[last][0] / kernel[first][0]:.2f}, "
          f"pynet agent RSS x{memory[last][0] / memory[first][0]:.2f} (PSS x{memory[last][1] / memory[first][1]:.2f})")
    print("Targets")
    for what in ("ADD", "DEL"):
        ratio = growth(times, "pynet", what, last)
        print(f"   pynet {what} at {last} <= {TARGET_GROWTH} x at {first}: "
              f"{'met' if ratio <= TARGET_GROWTH else 'NOT met'} ({ratio:.2f})")
    ratio = med(times, "pynet", "ADD", last) / med(times, "ref", "ADD", last)
    print(f"   pynet ADD at {last} <= {TARGET_VS_REFERENCE} x the reference's: "
          f"{'met' if ratio <= TARGET_VS_REFERENCE else 'NOT met'} ({ratio:.2f})")


if __name__ == "__main__":
    sys.exit(main())
