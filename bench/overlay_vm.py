"""Encrypted against unencrypted overlay throughput in the VM lab (issue 18): TCP (iperf3) between the
containers of two qemu VMs across pynet's overlay over VXLAN and routed over WireGuard (`encrypt`),
with the underlay between the two VMs for scale. The VMs' CPUs are emulated (TCG unless
PYNET_VM_ACCEL=kvm), so the ratios are the figures, not the Mbit/s.

    .venv/bin/python bench/overlay_vm.py [--rounds 5] [--seconds 5] [--labs]

Default (~3.5 min): one `pynet lab up` of two VMs with two overlays, one over VXLAN and one with
`encrypt`, and a container on each VM on each (as examples/lab-vm.yaml has them); then, after an
untimed second of each path (warm-up), --rounds rounds of the three paths, rotating which goes
first. --labs (~1.2 min a round): each round a fresh `lab up --vm` and a fresh `lab up --vm
--encrypt`, alternating which comes first, each measuring its overlay and its underlay (after the
same warm-up).

Uses its own PYNET_LAB_DIR (a temporary directory unless set) and PYNET_LAB_PREFIX (default pnbv-);
the lab is taken down at the end, also on an error. Exits 0 when everything ran, 1 when something
failed to run (and says what).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchlab import BenchError, in_pynet_lab  # noqa: E402
from cni.lab import hosts, vmhosts  # noqa: E402
from cni.lab.channel import Channel, ChannelTimeout  # noqa: E402
from cni.lab.topology import Container, Host, Network, Store, Topology, quick  # noqa: E402

PORT = 5201
NETWORKS = (Network("plain", "10.213.0.0/16", 4213), Network("sec", "10.214.0.0/16", 4214, encrypt=True))
LABELS = {"vxlan": "containers across the overlay over VXLAN", "wireguard": "containers across it with encrypt "
          "(WireGuard)", "underlay": "VM to VM over the underlay"}


def guest(host: dict, script: str, timeout: float = 120) -> str:
    """`script` run in the VM of `host` (a lab.json host; its chroot of this machine's /); its output."""
    try:
        code, out = Channel(host["share"]).run(script, timeout=timeout, alive=lambda: hosts.alive(host["qemu"]))
    except ChannelTimeout as e:
        raise BenchError(f"VM {host['vm']}: {e}") from None
    if code:
        raise BenchError(f"VM {host['vm']}: {script.strip().splitlines()[-1][:120]}: exit {code}: {out.strip()[-400:]}")
    return out


def inside(holder: int | None) -> str:
    """The command prefix entering a container's network namespace (its holder), or none: the VM's own."""
    return f"nsenter -t {holder} -n " if holder else ""


def iperf(server: tuple[dict, int | None], client: tuple[dict, int | None], address: str, seconds: float) -> float:
    """TCP throughput (Mbit/s) from `client` to `server`, each (VM host, container holder or None)."""
    (shost, sholder), (chost, cholder) = server, client
    guest(shost, f"""{inside(sholder)}iperf3 -s -1 -p {PORT} >/dev/null 2>&1 &
i=0; until {inside(sholder)}ss -ltn | grep -q ':{PORT} '; do
  i=$((i+1)); [ $i -lt 200 ] || {{ echo "iperf3 -s did not listen"; exit 1; }}; sleep 0.05
done""")
    out = guest(chost, f"{inside(cholder)}iperf3 -c {address} -p {PORT} -t {seconds:g} --json", timeout=seconds + 90)
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6


def both_networks() -> Topology:
    """Two VMs, an overlay over VXLAN and one with encrypt, a container on each VM on each."""
    vms = (Host("h1", "vm"), Host("h2", "vm"))
    return Topology("encbench", Store("etcd"), vms, NETWORKS, tuple(
        Container(f"{net.name[0]}{n}", vm.name, net.name) for net in NETWORKS for n, vm in enumerate(vms, 1)))


def paths(lab: dict) -> dict:
    """Each overlay of the lab by its kind, and the underlay: {kind: (server, client, address)}, the
    server on VM 2."""
    h1, h2 = lab["hosts"][:2]
    found = {"underlay": ((h2, None), (h1, None), h2["underlay"])}
    for name, config in lab["networks"].items():
        on = {c["host"]: c for c in lab["containers"] if c["network"] == name}
        found["wireguard" if config.get("encrypt") else "vxlan"] = (
            (h2, on[2]["holder"]), (h1, on[1]["holder"]), on[2]["address"].split("/")[0])
    return found


def warm_up(measured: dict) -> None:
    """One untimed second of each path: TCG translates a code path on its first use (a first run
    measured 40 % below the next)."""
    for path in measured.values():
        iperf(*path, 1)


def describe(lab: dict, label: str) -> None:
    h1 = lab["hosts"][0]
    links = guest(h1, "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; "
                      "ip -o link show | grep -E 'pn[xw][0-9]' | awk '{print $2, $4, $5}'").split("\n", 1)
    print(f"{label}: lab up {lab['up_s']} s, first ping {lab['first_ping_s']} s (load {os.getloadavg()[0]:.1f}); "
          f"guest CPU {links[0].strip()} (accel {os.environ.get('PYNET_VM_ACCEL') or 'tcg'}); "
          f"{', '.join(line for line in links[1].splitlines() if line)}", flush=True)


Found = dict[str, list[float]]  # kind -> Mbit/s of each round


def one_lab(args) -> tuple[Found, Found]:
    """One lab, both networks; rounds rotating which path goes first. The figures, and each overlay's
    figures over the underlay's of the same round."""
    lab = vmhosts.up(both_networks())
    describe(lab, "one VM lab, both networks")
    measured = paths(lab)
    warm_up(measured)
    found: Found = {kind: [] for kind in LABELS}
    beside: Found = {"vxlan": [], "wireguard": []}
    kinds = list(LABELS)
    for n in range(args.rounds):
        for kind in kinds[n % 3:] + kinds[:n % 3]:
            found[kind].append(iperf(*measured[kind], args.seconds))
        for kind in beside:
            beside[kind].append(found[kind][-1] / found["underlay"][-1])
        print(f"  round {n + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in found.items()) +
              f" Mbit/s (load {os.getloadavg()[0]:.1f})", flush=True)
    hosts.down()
    return found, beside


def fresh_labs(args) -> tuple[Found, Found]:
    """Per round a fresh lab of each kind, alternating which comes first. The figures, and each
    overlay's figures over the underlay's of the same lab."""
    found: Found = {kind: [] for kind in LABELS}
    beside: Found = {"vxlan": [], "wireguard": []}
    for n in range(args.rounds):
        for encrypt in ((False, True) if n % 2 == 0 else (True, False)):
            lab = vmhosts.up(quick(2, "etcd", encrypt=encrypt, kind="vm"))
            describe(lab, f"round {n + 1}, lab up --vm{' --encrypt' if encrypt else ''}")
            measured = paths(lab)
            warm_up(measured)
            for kind, path in measured.items():
                found[kind].append(iperf(*path, args.seconds))
                print(f"  {kind} {found[kind][-1]:.0f} Mbit/s", flush=True)
            overlay = "wireguard" if encrypt else "vxlan"
            beside[overlay].append(found[overlay][-1] / found["underlay"][-1])
            hosts.down()
    return found, beside


def report(found: Found, beside: Found, args) -> None:
    medians = {kind: statistics.median(values) for kind, values in found.items()}
    how = "fresh labs, each kind in turn" if args.labs else "one lab, rotating which path goes first"
    print(f"\nTCP, iperf3 -t {args.seconds:g}, {args.rounds} rounds ({how}), load {os.getloadavg()[0]:.1f} "
          f"(Mbit/s: median; rounds)")
    for kind, values in found.items():
        print(f"  {LABELS[kind]:48} {medians[kind]:7.1f}  {', '.join(f'{x:.1f}' for x in values)}")
    pairs = list(zip(found["wireguard"], found["vxlan"]))
    paired = statistics.median(w / v for w, v in pairs)
    print(f"  encrypted / unencrypted: {medians['wireguard'] / medians['vxlan']:.2f} of the medians, "
          f"{paired:.2f} median of the rounds' ratios")
    for kind, ratios in beside.items():
        print(f"  {kind} / underlay: {medians[kind] / medians['underlay']:.2f} of the medians, "
              f"{statistics.median(ratios):.2f} median of the ratios in the same {'lab' if args.labs else 'round'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--labs", action="store_true", help="a fresh lab of each kind per round")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0:
        sys.exit("--rounds must be 1 or more, --seconds more than 0")
    if not shutil.which("iperf3"):
        sys.exit("iperf3 not found: apt-get install -y iperf3 (install.sh does; the VMs run this machine's)")
    started = time.monotonic()

    def run() -> None:
        report(*(fresh_labs(args) if args.labs else one_lab(args)), args)
        print(f"\ntotal {time.monotonic() - started:.0f} s, load {os.getloadavg()[0]:.1f}")

    return in_pynet_lab("bench/overlay_vm.py", "pnbv-", run)


if __name__ == "__main__":
    sys.exit(main())
