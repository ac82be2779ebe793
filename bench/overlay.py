"""Overlay figures: time from `pynet lab up` to the first cross-host ping, and container↔container
TCP throughput across the VXLAN overlay ÷ host↔host throughput on the underlay between the same
two simulated hosts (iperf3), with the VXLAN device's checksum offload settings.

    .venv/bin/python bench/overlay.py [--seconds 5] [--rounds 3] [--store file|etcd]

Uses `pynet lab` (network namespaces named pnlab-*, removed at the end, also on an error) with its
own PYNET_LAB_DIR. Targets: overlay ≥ 90 % of the underlay; lab up < 10 s.
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
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cni.lab import hosts  # noqa: E402

PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"


def sh(ns: str, *argv: str, timeout: float = 120) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout,
                          env={"PATH": PATH})
    if done.returncode:
        raise RuntimeError(f"{ns}: {' '.join(argv)}: {done.stderr.strip()[-300:]}")
    return done.stdout


def in_container(lab: dict, n: int, *argv: str) -> tuple[list[str], dict]:
    """A command run in host n's container (pynet exec on that host)."""
    return hosts.pynet_command(lab, n, "exec", lab["hosts"][n - 1]["container"], *argv)


def iperf(lab: dict, server: int, client: int, address: str, seconds: float, containers: bool) -> float:
    """TCP throughput from `client` to `server` (host numbers), between their containers or the hosts."""
    def command(n: int, *argv: str) -> tuple[list[str], dict]:
        if containers:
            return in_container(lab, n, *argv)
        return ["ip", "netns", "exec", lab["hosts"][n - 1]["name"], *argv], {"PATH": PATH}

    argv, env = command(server, "iperf3", "-s", "-1", "-p", "5201")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            argv, env = command(server, "ss", "-ltn")
            if ":5201 " in subprocess.run(argv, env=env, capture_output=True, text=True).stdout:
                break
            time.sleep(0.05)
        argv, env = command(client, "iperf3", "-c", address, "-p", "5201", "-t", f"{seconds:g}", "--json")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("file", "etcd"), default="file")
    args = parser.parse_args()
    if not shutil.which("iperf3"):
        sys.exit("iperf3 not found: apt-get install -y iperf3 (install.sh does)")
    os.environ["PYNET_LAB_DIR"] = tempfile.mkdtemp(prefix="pnlab-bench-")
    try:
        lab = hosts.up(2, args.store)
        h1, h2 = lab["hosts"]
        device = f"pnx{lab['config']['vni']}"
        print(f"lab up ({args.store} store, 2 netns hosts): {lab['up_s']} s, first cross-host ping after "
              f"{lab['first_ping_s']} s (target < 10 s)")
        print(f"{device} on {h1['name']}: mtu {sh(h1['name'], 'cat', f'/sys/class/net/{device}/mtu').strip()}; "
              f"{offloads(h1['name'], device)}")
        bare_vxlan(lab)
        brnf = sh(h1["name"], "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables").strip()
        for hook in ("as is", "off"):
            if hook == "off":  # pynet's overlay needs none of it; Docker's iptables rules do
                for ns in [h["name"] for h in lab["hosts"]] + [lab["underlay"]]:
                    sh(ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0",
                       "net.bridge.bridge-nf-call-ip6tables=0")
            overlay, underlay, bare = [], [], []
            for _ in range(args.rounds):  # alternate, so drifting load hits both
                overlay.append(iperf(lab, 2, 1, h2["address"].split("/")[0], args.seconds, containers=True))
                underlay.append(iperf(lab, 2, 1, h2["underlay"], args.seconds, containers=False))
                bare.append(iperf(lab, 2, 1, BARE.format(2), args.seconds, containers=False))
            o, u = statistics.median(overlay), statistics.median(underlay)
            print(f"TCP, iperf3 -t {args.seconds:g}, median of {args.rounds}, hosts' br_netfilter hook "
                  f"{brnf if hook == 'as is' else 0}: overlay {o:.2f} Gbit/s, underlay {u:.2f} Gbit/s: "
                  f"{100 * o / u:.0f} % of the underlay (target ≥ 90 %)")
            print(f"  overlay rounds {', '.join(f'{x:.2f}' for x in overlay)}; "
                  f"underlay rounds {', '.join(f'{x:.2f}' for x in underlay)}")
            b = statistics.median(bare)
            print(f"  for scale: host↔host over a bare VXLAN device pair (no bridge, no container) {b:.2f} Gbit/s = "
                  f"{100 * b / u:.0f} % of the underlay; rounds {', '.join(f'{x:.2f}' for x in bare)}")
        return 0
    except Exception as e:  # noqa: BLE001 - a figure that failed to run is reported, not a traceback
        print(f"bench/overlay.py: {e}", file=sys.stderr)
        return 1
    finally:
        hosts.down()


if __name__ == "__main__":
    sys.exit(main())
