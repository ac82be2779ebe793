"""bridge + host-local + portmap: ADD/DEL time, DNAT cost with many port mappings, and throughput,
pynet and the Go reference side by side in one run.

    .venv/bin/python bench/bridge.py [--runs 30] [--quick]

Everything happens in namespaces of its own ("pnbench-<pid>-..."): each implementation gets a
simulated host namespace (with its own nftables/iptables ruleset) and its own dataDir; containers
are further namespaces. The root namespace's links, routes and firewall are never touched, and
every namespace and process is removed at the end, also on an error or Ctrl-C.

1. ADD (bridge with host-local, then portmap with one mapping) and DEL (portmap, then bridge),
   medians and p90s of --runs rounds, alternating which implementation goes first, warm-up rounds
   not counted; each run in a fresh container namespace.
2. One container publishing K ports (hostPort 20000.. -> 80) with one portmap ADD, for K = 10 and
   K = 5000 (500 with --quick): the host's rule count, the ADD's time, and how many TCP
   connections per second an "outside" namespace opens to the last mapped port.
3. iperf3 throughput between two containers on a pynet bridge / on the reference's bridge / two
   namespaces on a bare kernel bridge (no plugin) / two joined by a bare veth pair; the bridges' hosts with
   br_netfilter's hook (net.bridge.bridge-nf-call-iptables) as the kernel sets it, and off.

Exits 0 when everything ran (whether or not the targets are met), 1 when something failed to run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from benchlab import PATH, PREFIX, BenchError, Lab, p90, sh

HERE = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBNET = "10.88.0.0/16"
HOST_IP, OUTSIDE_IP = "192.0.2.1", "192.0.2.2"
FIRST_PORT = 20000
WARMUP = 2
IPTABLES_TABLES = {"filter", "nat", "mangle", "raw", "security"}  # iptables-nft's tables in ip/ip6

SERVER = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(4096)
while True:
    c, _ = s.accept(); c.close()
"""
CLIENT = """
import json, socket, sys, time
host, port, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), 5); s.recv(16); s.close()  # reachable at all? (raises if not)
n = errors = 0
start = time.perf_counter(); end = start + duration
while time.perf_counter() < end:
    s = socket.socket(); s.settimeout(5)
    try:
        s.connect((host, port)); s.recv(16); n += 1
    except OSError:
        errors += 1
    finally:
        s.close()
print(json.dumps({"connections": n, "errors": errors, "seconds": time.perf_counter() - start}))
"""


@dataclass
class Impl:
    name: str
    bridge: str
    portmap: str
    cni_path: str  # where bridge finds host-local


def cni(impl: Impl, plugin: str, command: str, config: dict, host: str, container: str, cid: str,
        timeout: float = 120) -> tuple[float, dict | None]:
    """One plugin call in the simulated host, as a runtime makes it: (milliseconds, JSON output)."""
    executable = impl.bridge if plugin == "bridge" else impl.portmap
    env = {"PATH": PATH, "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": f"/run/netns/{container}",
           "CNI_IFNAME": "eth0", "CNI_PATH": impl.cni_path}
    start = time.perf_counter()
    done = subprocess.run(["ip", "netns", "exec", host, executable], input=json.dumps(config).encode(),
                          capture_output=True, env=env, timeout=timeout)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise BenchError(f"{impl.name} {plugin} {command} failed: {done.stdout.decode(errors='replace')[-800:]} "
                         f"{done.stderr.decode(errors='replace')[-800:]}")
    return elapsed, (json.loads(done.stdout) if done.stdout.strip() else None)


def bridge_conf(data_dir: str) -> dict:
    return {"cniVersion": "1.0.0", "name": "benchnet", "type": "bridge", "bridge": "pnbr0", "isGateway": True,
            "ipMasq": True, "ipam": {"type": "host-local", "dataDir": data_dir, "ranges": [[{"subnet": SUBNET}]],
                                     "routes": [{"dst": "0.0.0.0/0"}]}}


def portmap_conf(mappings: list[dict], prev: dict) -> dict:
    return {"cniVersion": "1.0.0", "name": "benchnet", "type": "portmap", "capabilities": {"portMappings": True},
            "runtimeConfig": {"portMappings": mappings}, "prevResult": prev}


def mappings(k: int) -> list[dict]:
    return [{"hostPort": FIRST_PORT + n, "containerPort": 80, "protocol": "tcp"} for n in range(k)]


# 1. ADD / DEL time ------------------------------------------------------------------------------

def bench_add_del(lab: Lab, impls: list[Impl], runs: int) -> dict:
    hosts = {impl.name: lab.netns(f"{impl.name[:3]}-h") for impl in impls}
    data = {impl.name: os.path.join(lab.tmp, f"ipam-{impl.name}") for impl in impls}
    times = {(impl.name, cmd): [] for impl in impls for cmd in ("ADD", "DEL")}
    calls = {(impl.name, call): [] for impl in impls
             for call in ("bridge ADD", "portmap ADD", "portmap DEL", "bridge DEL")}
    for n in range(WARMUP + runs):
        for impl in (impls if n % 2 else list(reversed(impls))):
            host, container, cid = hosts[impl.name], lab.netns(f"{impl.name[:3]}-c{n}"), f"bench{n}"
            bconf = bridge_conf(data[impl.name])
            t1, result = cni(impl, "bridge", "ADD", bconf, host, container, cid)
            pconf = portmap_conf([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}], result)
            t2, _ = cni(impl, "portmap", "ADD", pconf, host, container, cid)
            t3, _ = cni(impl, "portmap", "DEL", pconf, host, container, cid)
            t4, _ = cni(impl, "bridge", "DEL", {**bconf, "prevResult": result}, host, container, cid)
            lab.drop(container)
            if n >= WARMUP:
                times[(impl.name, "ADD")].append(t1 + t2)
                times[(impl.name, "DEL")].append(t3 + t4)
                for call, t in zip(("bridge ADD", "portmap ADD", "portmap DEL", "bridge DEL"), (t1, t2, t3, t4)):
                    calls[(impl.name, call)].append(t)
    # what `ip netns exec` alone costs (part of every call above, the same for both)
    overhead = []
    for _ in range(10):
        start = time.perf_counter()
        sh("true", ns=hosts[impls[0].name])
        overhead.append((time.perf_counter() - start) * 1000)
    lab.drop(*hosts.values())
    return {"times": times, "calls": calls, "exec_overhead": statistics.median(overhead)}


def print_add_del(res: dict, impls: list[Impl], runs: int) -> None:
    times = res["times"]
    print(f"\n1. bridge (host-local, isGateway, ipMasq, {SUBNET}) + portmap (1 mapping), cniVersion 1.0.0")
    print(f"   {runs} runs each after {WARMUP} warm-up rounds, fresh container netns per run (ms)")
    print(f"   {'command':8} {'pynet median':>13} {'p90':>7} {'reference median':>17} {'p90':>7} {'ratio':>6}")
    for cmd in ("ADD", "DEL", "ADD+DEL"):
        def series(name):
            if cmd == "ADD+DEL":
                return [a + d for a, d in zip(times[(name, "ADD")], times[(name, "DEL")])]
            return times[(name, cmd)]
        ours = series("pynet")
        line = f"   {cmd:8} {statistics.median(ours):13.1f} {p90(ours):7.1f}"
        if len(impls) > 1:
            theirs = series("reference")
            line += (f" {statistics.median(theirs):17.1f} {p90(theirs):7.1f}"
                     f" {statistics.median(ours) / statistics.median(theirs):6.2f}")
        print(line)
    print("   of which, per plugin call:")
    for call in ("bridge ADD", "portmap ADD", "portmap DEL", "bridge DEL"):
        ours = res["calls"][("pynet", call)]
        line = f"   {'  ' + call:13} {statistics.median(ours):8.1f} {p90(ours):7.1f}"
        if len(impls) > 1:
            theirs = res["calls"][("reference", call)]
            line += (f" {statistics.median(theirs):17.1f} {p90(theirs):7.1f}"
                     f" {statistics.median(ours) / statistics.median(theirs):6.2f}")
        print(line)
    print(f"   (every plugin call runs under `ip netns exec HOST`, which alone takes {res['exec_overhead']:.1f} ms;"
          f" ADD and DEL are 2 calls each)")


# 2. DNAT cost with K mappings -------------------------------------------------------------------

def count_rules(ns: str) -> dict:
    ipt = sum(1 for prog in ("iptables-save", "ip6tables-save")
              for line in sh(prog, ns=ns, check=False).stdout.decode().splitlines() if line.startswith("-A"))
    listing = json.loads(sh("nft", "-j", "list", "ruleset", ns=ns).stdout or b'{"nftables": []}')
    # rules in iptables-nft's own tables are already counted by iptables-save
    native = sum(1 for item in listing.get("nftables", []) if "rule" in item
                 and not (item["rule"]["family"] in ("ip", "ip6") and item["rule"]["table"] in IPTABLES_TABLES))
    return {"iptables": ipt, "nft": native, "total": ipt + native}


def wait_listening(ns: str, port: int, proc: subprocess.Popen) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise BenchError(f"server in {ns} exited: {proc.stderr.read().decode(errors='replace')[-500:]}")
        if f":{port} " in sh("ss", "-ltn", ns=ns).stdout.decode():
            return
        time.sleep(0.05)
    raise BenchError(f"server in {ns} did not listen on {port}")


def setup_dnat(lab: Lab, impl: Impl, k: int, ref_timeout: float) -> dict:
    """A host with an outside network and one container serving TCP port 80, published with K mappings
    by one portmap ADD (timed). The namespaces stay until the rates are measured."""
    tag = f"{impl.name[:3]}-k{k}"
    host, outside, container = lab.netns(f"{tag}-h"), lab.netns(f"{tag}-o"), lab.netns(f"{tag}-c")
    setup = {"namespaces": (container, outside, host), "outside": outside}
    lab.veth(host, "up0", f"{HOST_IP}/24", outside, "up1", f"{OUTSIDE_IP}/24")
    sh("sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 65000", ns=outside)  # the outside netns's own
    bconf = bridge_conf(os.path.join(lab.tmp, f"ipam-{tag}"))
    _, result = cni(impl, "bridge", "ADD", bconf, host, container, "dnat")
    setup["server"] = lab.spawn(container, "python3", "-c", SERVER)
    wait_listening(container, 80, setup["server"])
    timeout = ref_timeout if impl.name == "reference" else 600
    try:
        setup["add_ms"], _ = cni(impl, "portmap", "ADD", portmap_conf(mappings(k), result), host, container, "dnat",
                                 timeout=timeout)
    except subprocess.TimeoutExpired:
        setup["timed_out"] = timeout
    setup["rules"] = count_rules(host)
    setup.update(port=FIRST_PORT + k - 1, connections=0, errors=0, seconds=0.0, bursts=[])
    return setup


def burst(setup: dict, seconds: float) -> None:
    """Connections from the outside netns to the last mapped port for `seconds` (timed inside the client)."""
    done = sh("python3", "-c", CLIENT, HOST_IP, str(setup["port"]), str(seconds), ns=setup["outside"],
              timeout=seconds + 60)
    client = json.loads(done.stdout)
    setup["connections"] += client["connections"]
    setup["errors"] += client["errors"]
    setup["seconds"] += client["seconds"]
    setup["bursts"].append(client["connections"] / client["seconds"])
    setup["rate"] = setup["connections"] / setup["seconds"]


def bench_dnat(lab: Lab, impls: list[Impl], ks: list[int], seconds: float, bursts: int, ref_timeout: float) -> dict:
    """Every (implementation, K) host set up first, then their client bursts interleaved round by round,
    so that a change of background load hits all of them alike."""
    setups = {}
    try:
        for k in ks:
            for impl in (impls if k == ks[0] else list(reversed(impls))):
                if impl.name == "reference" and k >= 1000:
                    print(f"(reference portmap ADD with {k} mappings: iptables runs once per rule, this takes "
                          f"a while; timeout {ref_timeout:.0f} s)", file=sys.stderr, flush=True)
                setups[(impl.name, k)] = setup_dnat(lab, impl, k, ref_timeout)
        measured = [key for key, setup in setups.items() if "timed_out" not in setup]
        for n in range(bursts):
            for key in (measured if n % 2 == 0 else list(reversed(measured))):
                burst(setups[key], seconds / bursts)
        return setups
    finally:
        for setup in setups.values():
            if "server" in setup:
                lab.stop(setup["server"])
            lab.drop(*setup["namespaces"])


def print_dnat(res: dict, impls: list[Impl], ks: list[int], seconds: float, bursts: int) -> None:
    print(f"\n2. one container publishing K TCP ports (hostPort {FIRST_PORT}.. -> 80) with one portmap ADD;")
    print(f"   new connections (connect/recv/close) from an outside netns to the last mapped port: {seconds:g} s of")
    print(f"   client loop per host, as {bursts} bursts of {seconds / bursts:g} s interleaved across the hosts")
    print(f"   {'impl':10} {'K':>5} {'rules':>6} {'(iptables':>10} {'+ nft)':>7} {'ADD ms':>9} "
          f"{'conn/s':>8} {'errors':>6}  per burst")
    for impl in impls:
        for k in ks:
            r = res[(impl.name, k)]
            rules = r["rules"]
            head = f"   {impl.name:10} {k:5} {rules['total']:6} {rules['iptables']:10} {rules['nft']:7}"
            if "timed_out" in r:
                print(f"{head} {'>' + format(r['timed_out'], '.0f') + ' s':>9}  ADD timed out, not measured")
            else:
                print(f"{head} {r['add_ms']:9.1f} {r['rate']:8.0f} {r['errors']:6}  "
                      + " ".join(f"{b:.0f}" for b in r["bursts"]))
    big = ks[-1]
    for impl in impls:
        small, large = res[(impl.name, ks[0])], res[(impl.name, big)]
        if "rate" in small and "rate" in large:
            print(f"   {impl.name}: rate K={big} / K={ks[0]} = {large['rate'] / small['rate']:.2f}, "
                  f"rules {small['rules']['total']} -> {large['rules']['total']}, "
                  f"ADD {large['add_ms'] / small['add_ms']:.1f}x slower")
    if len(impls) > 1 and "rate" in res[("reference", big)]:
        ours, theirs = res[("pynet", big)], res[("reference", big)]
        print(f"   at K={big}: pynet's rate is {ours['rate'] / theirs['rate']:.2f}x the reference's; "
              f"its ADD takes {ours['add_ms'] / theirs['add_ms']:.2g}x the reference's time "
              f"(the reference's ADD is {theirs['add_ms'] / ours['add_ms']:.0f}x slower)")


# 3. throughput ----------------------------------------------------------------------------------

def iperf(lab: Lab, server_ns: str, client_ns: str, address: str, seconds: float) -> float:
    server = lab.spawn(server_ns, "iperf3", "-s", "-1", "-p", "5201")
    try:
        wait_listening(server_ns, 5201, server)
        done = sh("iperf3", "-c", address, "-p", "5201", "-t", f"{seconds:g}", "--json", ns=client_ns,
                  timeout=seconds + 60)
        report = json.loads(done.stdout)
        return report["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        lab.stop(server)


BRNF = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


def set_brnf(ns: str, value: str) -> None:
    """br_netfilter's hook (bridged IP through the ip/ip6 hooks: conntrack, nftables, iptables) in `ns`."""
    for name in BRNF:
        sh("sysctl", "-qw", f"{name}={value}", ns=ns, check=False)


def bench_throughput(lab: Lab, impls: list[Impl], seconds: float, rounds: int) -> dict:
    """Two containers on a pynet bridge, two on the reference's bridge (same configuration: ipMasq,
    host-local), two namespaces on a bare kernel bridge (no CNI plugin, no rules) and two joined by a
    bare veth pair; each bridge host with br_netfilter's hook as this kernel sets it and with it off
    (pynet needs none of it: its isolation and icc rules are in the bridge family, hairpin goes
    through SNAT; Docker's iptables rules do need it)."""
    paths: dict[str, tuple[str, str, str]] = {}
    hosts, made = [], []
    try:
        for impl in impls:
            host, c1, c2 = (lab.netns(f"tp-{impl.name[:3]}-{role}") for role in ("h", "c1", "c2"))
            made += [c1, c2, host]
            bconf = bridge_conf(os.path.join(lab.tmp, f"ipam-tp-{impl.name}"))
            _, r1 = cni(impl, "bridge", "ADD", bconf, host, c1, "tp1")
            cni(impl, "bridge", "ADD", bconf, host, c2, "tp2")
            paths["bridge" if impl.name == "pynet" else impl.name] = (c1, c2, r1["ips"][0]["address"].split("/")[0])
            hosts.append(host)
        plain, p1, p2 = lab.netns("tp-plain"), lab.netns("tp-p1"), lab.netns("tp-p2")
        a, b = lab.netns("veth-a"), lab.netns("veth-b")
        made += [p1, p2, plain, a, b]
        hosts.append(plain)
        sh("ip", "link", "add", "br0", "type", "bridge", ns=plain)
        sh("ip", "link", "set", "br0", "up", ns=plain)
        for n, peer in ((1, p1), (2, p2)):
            sh("ip", "link", "add", f"pp{n}", "type", "veth", "peer", "eth0", "netns", peer, ns=plain)
            sh("ip", "link", "set", f"pp{n}", "master", "br0", "up", ns=plain)
            sh("ip", "addr", "add", f"10.254.0.{n}/24", "dev", "eth0", ns=peer)
            sh("ip", "link", "set", "eth0", "up", ns=peer)
        lab.veth(a, "vb0", "10.255.0.1/24", b, "vb1", "10.255.0.2/24")
        paths.update(plain=(p1, p2, "10.254.0.1"), veth=(a, b, "10.255.0.1"))
        brnf = sh("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables", ns=plain, check=False).stdout.decode().strip()
        kinds = tuple(paths)
        found: dict[str, list[float]] = {kind: [] for kind in kinds}
        found.update({f"{kind}-nobrnf": [] for kind in kinds if kind != "veth"})
        for n in range(rounds):
            for hook in ("as is", "off"):
                if hook == "off":
                    for host in hosts:
                        set_brnf(host, "0")
                for kind in kinds[n % len(kinds):] + kinds[:n % len(kinds)]:  # rotate which goes first
                    if kind == "veth" and hook == "off":
                        continue
                    server, client, address = paths[kind]
                    found[kind + ("-nobrnf" if hook == "off" else "")].append(
                        iperf(lab, server, client, address, seconds))
                if hook == "off" and brnf:
                    for host in hosts:
                        set_brnf(host, brnf)
        return {**found, "br_nf": brnf or "n/a"}
    finally:
        lab.drop(*made)


def print_throughput(res: dict, seconds: float) -> None:
    veth = statistics.median(res["veth"])
    print(f"\n3. TCP throughput, iperf3 -t {seconds:g}, {len(res['bridge'])} round(s) each, "
          "rotating which goes first (Gbit/s)")
    print(f"   {'path':66} {'median':>7}  {'/ veth':>7}  runs")
    rows = []
    for hook in (res["br_nf"], "0"):
        suffix = "" if hook == res["br_nf"] else "-nobrnf"
        rows += [("bridge" + suffix, f"container <-> container over a pynet bridge, br_nf {hook}"),
                 ("reference" + suffix, f"container <-> container over the reference's bridge, br_nf {hook}"),
                 ("plain" + suffix, f"netns <-> netns over a bare kernel bridge, br_nf {hook}")]
    rows.append(("veth", "netns <-> netns over a bare veth pair"))
    for key, label in rows:
        if key not in res:
            continue
        median = statistics.median(res[key])
        print(f"   {label:66} {median:7.2f}  {median / veth * 100:6.1f}%  " + " ".join(f"{v:.2f}" for v in res[key]))
    print("   (br_nf: the bridge hosts' net.bridge.bridge-nf-call-iptables; 1 sends bridged IP through "
          "conntrack and the ip hooks)")


# summary ----------------------------------------------------------------------------------------

def print_summary(add: dict | None, dnat: dict | None, ks: list[int], tp: dict | None) -> None:
    def mark(ok: bool) -> str:
        return "met    " if ok else "NOT met"

    print("\nTargets")
    if add and ("reference", "ADD") in add["times"]:
        t = add["times"]
        ra = statistics.median(t[("pynet", "ADD")]) / statistics.median(t[("reference", "ADD")])
        rd = statistics.median(t[("pynet", "DEL")]) / statistics.median(t[("reference", "DEL")])
        print(f"   ADD <= 3x reference              {mark(ra <= 3)}  pynet/reference = {ra:.2f}")
        print(f"   DEL <= 1x reference              {mark(rd <= 1)}  pynet/reference = {rd:.2f}")
    else:
        print("   ADD/DEL vs reference             not measured")
    if dnat and "rate" in dnat[("pynet", ks[0])] and "rate" in dnat[("pynet", ks[-1])]:
        small, large = dnat[("pynet", ks[0])], dnat[("pynet", ks[-1])]
        flat = large["rate"] / small["rate"]
        same_rules = large["rules"]["total"] == small["rules"]["total"]
        print(f"   flat DNAT cost                   {mark(flat >= 0.9 and same_rules)}  rate K={ks[-1]}/K={ks[0]} = "
              f"{flat:.2f} (flat: >= 0.90), rules {small['rules']['total']} -> {large['rules']['total']}")
    else:
        print("   flat DNAT cost                   not measured")
    if tp:
        veth = statistics.median(tp["veth"])
        ratio = statistics.median(tp["bridge"]) / veth
        free = statistics.median(tp["bridge-nobrnf"]) / veth
        plain = statistics.median(tp["plain"]) / veth
        ref = (f", the reference's bridge: {statistics.median(tp['reference']) / veth * 100:.1f} %"
               if "reference" in tp else "")
        print(f"   throughput >= 95 % of bare veth  {mark(free >= 0.95)}  {free * 100:.1f} % with br_netfilter's hook "
              f"off; {ratio * 100:.1f} % with it at {tp['br_nf']} (a bare kernel bridge: {plain * 100:.1f} %{ref})")
        by_hand = {hook: statistics.median(tp["bridge" + hook]) / statistics.median(tp["plain" + hook])
                   for hook in ("", "-nobrnf")}
        print(f"   >= 97 % of bridge + veth by hand {mark(min(by_hand.values()) >= 0.97)}  "
              f"{by_hand[''] * 100:.1f} % with br_netfilter's hook at {tp['br_nf']}, {by_hand['-nobrnf'] * 100:.1f} % off")
    else:
        print("   throughput >= 95 % of bare veth  not measured")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="ADD/DEL rounds (default 30, 5 with --quick)")
    parser.add_argument("--quick", action="store_true", help="for CI: 5 runs, K=10 and 500, iperf3 3 s x 3")
    parser.add_argument("--parts", default="add,dnat,throughput", help="comma-separated subset of add,dnat,throughput")
    parser.add_argument("--rounds", type=int, help="throughput rounds per path (default 3)")
    parser.add_argument("--big-k", type=int, help="the large number of mappings (default 5000, 500 with --quick)")
    parser.add_argument("--ref-timeout", type=float, default=3600, help="seconds allowed for the reference's big ADD")
    parser.add_argument("--pynet-dir", default=HERE if os.path.exists(os.path.join(HERE, "pynet-bridge"))
                        else os.path.join(REPO, ".venv", "bin"))
    parser.add_argument("--reference-dir", default=os.environ.get("PYNET_REFERENCE_DIR", "/usr/lib/cni"))
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 30)
    ks = [10, args.big_k or (500 if args.quick else 5000)]
    conn_seconds, conn_bursts = (2.0, 4) if args.quick else (3.0, 6)
    iperf_seconds, iperf_rounds = 3.0 if args.quick else 5.0, args.rounds or 3
    parts = set(args.parts.split(","))
    if runs < 2 or parts - {"add", "dnat", "throughput"}:
        parser.error("--runs must be >= 2; --parts takes add, dnat, throughput")
    if os.geteuid() != 0:
        sys.exit("bench/bridge.py needs root: it creates network namespaces")
    if "throughput" in parts and not shutil.which("iperf3"):
        sys.exit("iperf3 not found: apt-get install -y iperf3 (install.sh does)")

    # Ctrl-C (even when started with SIGINT ignored, as background jobs are), SIGTERM and SIGHUP all
    # run the cleanup below
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda signum, _: sys.exit(128 + signum))
    started = time.perf_counter()
    lab = Lab()
    add = dnat = tp = None
    try:
        cni_path = os.path.join(lab.tmp, "bin")
        sh(os.path.join(args.pynet_dir, "pynet"), "plugins", "install", "--dir", cni_path, "--names", "reference")
        impls = [Impl("pynet", os.path.join(cni_path, "bridge"), os.path.join(cni_path, "portmap"), cni_path)]
        if all(os.path.exists(os.path.join(args.reference_dir, p)) for p in ("bridge", "host-local", "portmap")):
            ref = args.reference_dir
            impls.append(Impl("reference", os.path.join(ref, "bridge"), os.path.join(ref, "portmap"), ref))
        else:
            print(f"reference plugins not found in {args.reference_dir}: measuring pynet alone")
        print(f"bench/bridge.py: pynet {impls[0].bridge} vs reference {args.reference_dir}; "
              f"namespaces {PREFIX}-*; {os.cpu_count()} CPUs, kernel {os.uname().release}")
        if "add" in parts:
            add = bench_add_del(lab, impls, runs)
            print_add_del(add, impls, runs)
            sys.stdout.flush()
        if "dnat" in parts:
            dnat = bench_dnat(lab, impls, ks, conn_seconds, conn_bursts, args.ref_timeout)
            print_dnat(dnat, impls, ks, conn_seconds, conn_bursts)
            sys.stdout.flush()
        if "throughput" in parts:
            tp = bench_throughput(lab, impls, iperf_seconds, iperf_rounds)
            print_throughput(tp, iperf_seconds)
        print_summary(add, dnat, ks, tp)
        print(f"\ntotal time {time.perf_counter() - started:.0f} s")
        return 0
    except BenchError as error:
        print(f"\nbench/bridge.py: {error}", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as error:
        print(f"\nbench/bridge.py: timed out: {' '.join(map(str, error.cmd))[:200]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench/bridge.py: interrupted", file=sys.stderr)
        return 130
    finally:
        lab.close()


if __name__ == "__main__":
    sys.exit(main())
