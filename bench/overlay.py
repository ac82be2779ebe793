"""Overlay figures: container<->container TCP throughput across pynet's overlay against the same
topology built by hand in the same run (per host a bridge, a veth into a container namespace and a
VXLAN device with static route/neighbour/FDB entries made with `ip`, as Flannel's VXLAN backend
builds it), with a bare VXLAN device pair, a bare veth pair and the underlay for scale; and
convergence: how long after a host's first ADD every other host has its entries, joining a lab of
N-1 hosts again and again (`pynet lab join`, `pynet lab leave`), with the time of `lab up --hosts N`.

    .venv/bin/python bench/overlay.py [--parts throughput,convergence] [--seconds 5] [--rounds 3]
                                      [--sizes 2,10,20] [--joins 10] [--store file|etcd]

Uses `pynet lab` (network namespaces named $PYNET_LAB_PREFIX*, default pnbo-, removed at the end, also on
an error) with its own PYNET_LAB_DIR. Targets: pynet >= 97 % of the hand-built topology (median of
alternating runs); convergence <= 2 s at 20 hosts; lab up --hosts 20 < 30 s.
Exits 0 when everything ran (whether or not the targets are met), 1 when something failed to run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchlab import in_pynet_lab  # noqa: E402
from cni.lab import hosts, joining  # noqa: E402
from cni.lab.convergence import summary  # noqa: E402
from cni.lab.topology import quick  # noqa: E402

PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"


def sh(ns: str, *argv: str, timeout: float = 120) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout,
                          env={"PATH": PATH})
    if done.returncode:
        raise RuntimeError(f"{ns}: {' '.join(argv)}: {done.stderr.strip()[-300:]}")
    return done.stdout


def in_container(lab: dict, n: int):
    """Runs a command in host n's container (pynet exec on that host)."""
    return lambda *argv: hosts.pynet_command(lab, n, "exec", lab["hosts"][n - 1]["container"], *argv)


def in_netns(ns: str):
    """Runs a command in namespace `ns`."""
    return lambda *argv: (["ip", "netns", "exec", ns, *argv], {"PATH": PATH})


def iperf(server, client, address: str, seconds: float) -> float:
    """TCP throughput (Gbit/s) from `client` to `server` (in_container or in_netns) at `address`."""
    argv, env = server("iperf3", "-s", "-1", "-p", "5201")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            argv, env = server("ss", "-ltn")
            if ":5201 " in subprocess.run(argv, env=env, capture_output=True, text=True).stdout:
                break
            time.sleep(0.05)
        argv, env = client("iperf3", "-c", address, "-p", "5201", "-t", f"{seconds:g}", "--json")
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode:
            raise RuntimeError(f"iperf3 failed: {done.stdout[-300:]} {done.stderr[-300:]}")
        return json.loads(done.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        proc.kill()
        proc.wait()


BARE = "10.250.0.{}"  # a second, plain VXLAN between the two hosts: what encapsulation alone costs


def bare_vxlan(lab: dict) -> None:
    """VNI 4000 between hosts 1 and 2, addresses BARE, no bridge behind it (removed with the hosts)."""
    h1, h2 = lab["hosts"][:2]
    for n, me, peer in ((1, h1, h2), (2, h2, h1)):
        sh(me["name"], "ip", "link", "add", "pnbarevx", "type", "vxlan", "id", "4000", "local", me["underlay"],
           "remote", peer["underlay"], "dstport", "4790")
        sh(me["name"], "ip", "addr", "add", BARE.format(n) + "/24", "dev", "pnbarevx")
        sh(me["name"], "ip", "link", "set", "pnbarevx", "up")


def offloads(ns: str, device: str) -> str:
    if not shutil.which("ethtool"):
        return "ethtool not installed"
    out = sh(ns, "ethtool", "-k", device)
    wanted = ("tx-checksumming", "tx-checksum-ip-generic", "rx-checksumming", "tx-udp_tnl-segmentation")
    return ", ".join(line.strip() for line in out.splitlines() if line.strip().split(":")[0] in wanted)


HAND = "10.251.{}.{}"  # the hand-built topology's subnets: 10.251.N.0/24 on host N


def netns(name: str) -> str:
    subprocess.run(["ip", "netns", "add", name], check=True, env={"PATH": PATH})
    sh(name, "ip", "link", "set", "lo", "up")
    return name


def hand_built(lab: dict, mtu: int) -> None:
    """Flannel's VXLAN backend, made with `ip` on hosts 1 and 2: a VXLAN device (VNI 4001, port 4791,
    learning off, the subnet's .0/32 on it), a bridge with the subnet's .1, a veth into a container
    namespace ($PREFIXhcN: .2, default route via .1), and for the other host a route via its VTEP
    address (onlink), a permanent neighbour for that address and an FDB entry to its underlay address."""
    h1, h2 = lab["hosts"][:2]
    mac = "02:fa:00:00:00:0{}"
    for n, me, peer, m in ((1, h1, h2, 2), (2, h2, h1, 1)):
        ns, container = me["name"], netns(f"{lab['prefix']}hc{n}")
        sh(ns, "ip", "link", "add", "hvx", "address", mac.format(n), "mtu", str(mtu), "type", "vxlan", "id", "4001",
           "local", me["underlay"], "dstport", "4791", "nolearning")
        sh(ns, "ip", "addr", "add", HAND.format(n, 0) + "/32", "dev", "hvx")
        sh(ns, "ip", "link", "add", "hbr", "mtu", str(mtu), "type", "bridge")
        sh(ns, "ip", "addr", "add", HAND.format(n, 1) + "/24", "dev", "hbr")
        sh(ns, "ip", "link", "add", "hveth", "mtu", str(mtu), "type", "veth", "peer", "name", "eth0", "netns", container)
        sh(ns, "ip", "link", "set", "hveth", "master", "hbr", "up")
        for device in ("hvx", "hbr"):
            sh(ns, "ip", "link", "set", device, "up")
        sh(container, "ip", "addr", "add", HAND.format(n, 2) + "/24", "dev", "eth0")
        sh(container, "ip", "link", "set", "eth0", "up")
        sh(container, "ip", "route", "add", "default", "via", HAND.format(n, 1))
        sh(ns, "ip", "route", "add", HAND.format(m, 0) + "/24", "via", HAND.format(m, 0), "dev", "hvx", "onlink")
        sh(ns, "ip", "neigh", "replace", HAND.format(m, 0), "lladdr", mac.format(m), "dev", "hvx", "nud", "permanent")
        sh(ns, "bridge", "fdb", "append", mac.format(m), "dev", "hvx", "dst", peer["underlay"], "self", "permanent")
        sh(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")


def paths(lab: dict) -> dict:
    """Every path measured: (server, client, address), the server on host 2's side."""
    h1, h2 = lab["hosts"][:2]
    a, b = netns(f"{lab['prefix']}va"), netns(f"{lab['prefix']}vb")
    sh(a, "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
    for ns, device, address in ((a, "va", "10.252.0.1/24"), (b, "vb", "10.252.0.2/24")):
        sh(ns, "ip", "addr", "add", address, "dev", device)
        sh(ns, "ip", "link", "set", device, "up")
    return {"pynet": (in_container(lab, 2), in_container(lab, 1), h2["address"].split("/")[0]),
            "hand": (in_netns(f"{lab['prefix']}hc2"), in_netns(f"{lab['prefix']}hc1"), HAND.format(2, 2)),
            "bare-vxlan": (in_netns(h2["name"]), in_netns(h1["name"]), BARE.format(2)),
            "veth": (in_netns(b), in_netns(a), "10.252.0.2"),
            "underlay": (in_netns(h2["name"]), in_netns(h1["name"]), h2["underlay"])}


LABELS = {"pynet": "containers across pynet's overlay", "hand": "containers across the same topology by hand",
          "bare-vxlan": "hosts over a bare VXLAN pair", "veth": "two namespaces over a bare veth pair",
          "underlay": "hosts over the underlay"}


def throughput(args) -> None:
    lab = hosts.up(quick(2, args.store))
    h1 = lab["hosts"][0]
    device = hosts.device_of(lab["config"])
    mtu = int(sh(h1["name"], "cat", f"/sys/class/net/{device}/mtu"))
    print(f"lab up ({args.store} store, 2 netns hosts): {lab['up_s']} s; {device} on {h1['name']}: mtu {mtu}; "
          f"{offloads(h1['name'], device)}")
    bare_vxlan(lab)
    hand_built(lab, mtu)
    measured = paths(lab)
    brnf = sh(h1["name"], "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables").strip()
    for hook in ("as is", "off"):
        if hook == "off":  # pynet's overlay needs none of it; Docker's iptables rules do
            for ns in [h["name"] for h in lab["hosts"]] + [lab["underlay"]]:
                sh(ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0", "net.bridge.bridge-nf-call-ip6tables=0")
        found = {kind: [] for kind in measured}
        kinds = list(measured)
        for n in range(args.rounds):  # rotate which goes first, so drifting load hits all alike
            for kind in kinds[n % len(kinds):] + kinds[:n % len(kinds)]:
                found[kind].append(iperf(*measured[kind], args.seconds))
        print(f"\nTCP, iperf3 -t {args.seconds:g}, {args.rounds} rotating rounds, hosts' br_netfilter hook "
              f"{brnf if hook == 'as is' else 0}, load {os.getloadavg()[0]:.1f} (Gbit/s: median, rounds)")
        for kind, values in found.items():
            print(f"  {LABELS[kind]:46} {statistics.median(values):6.2f}  {', '.join(f'{x:.2f}' for x in values)}")
        ratio = statistics.median(found["pynet"]) / statistics.median(found["hand"])
        paired = statistics.median(p / h for p, h in zip(found["pynet"], found["hand"]))
        print(f"  pynet / by hand: {100 * ratio:.1f} % of the medians, {100 * paired:.1f} % median of the rounds' "
              f"ratios (target >= 97 %); underlay {statistics.median(found['underlay']):.2f}")
    hosts.down()


def convergence(args) -> None:
    """For each size N: lab up --hosts N (timed), the last host leaves, then --joins times it joins
    again (timed: convergence, first answered pings both ways) and leaves."""
    for size in args.sizes:
        lab = hosts.up(quick(size, args.store))
        print(f"\n{size} hosts: lab up {lab['up_s']} s (load {os.getloadavg()[0]:.1f}); convergence during up: "
              f"{lab['convergence']}")
        found, reached, after = [], [], []
        if size > 1:
            joining.leave()
            for _ in range(args.joins):
                host = joining.join()
                found.append(host["convergence_s"])
                reached.append(host["reachable_s"])
                after.append(host["reachable_after_run_s"])
                joining.leave()
            c, r, a = summary(found), summary(reached), summary(after)
            print(f"  host {size} joining {size - 1}, {args.joins} times: convergence median {c['median_s']} s, "
                  f"p95 {c['p95_s']} s, max {c['max_s']} s; every ping answered after median {r['median_s']} s, "
                  f"p95 {r['p95_s']} s ({a['median_s']} s, p95 {a['p95_s']} s after pynet run returned) "
                  f"(load {os.getloadavg()[0]:.1f})")
            print(f"  convergence {', '.join(map(str, found))}")
        hosts.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="throughput,convergence")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[2, 10, 20])
    parser.add_argument("--joins", type=int, default=10)
    parser.add_argument("--store", choices=("file", "etcd"), default="file")
    args = parser.parse_args()
    if not shutil.which("iperf3"):
        sys.exit("iperf3 not found: apt-get install -y iperf3 (install.sh does)")

    def parts() -> None:
        if "throughput" in args.parts:
            throughput(args)
        if "convergence" in args.parts:
            convergence(args)

    return in_pynet_lab("bench/overlay.py", "pnbo-", parts)


if __name__ == "__main__":
    sys.exit(main())
