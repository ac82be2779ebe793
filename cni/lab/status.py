"""What a lab reports: `pynet lab status`'s `running` (what runs, in the names of the lab's file, beside
`asked`: what the file said), and the report for people. No I/O of its own: the lab's modules pass
in what they read from the hosts."""

from __future__ import annotations

import os
from collections.abc import Callable

from .topology import UNDERLAY


def running(lab: dict, listed: Callable[[int], list[dict] | None], routes: dict[tuple[int, str], list[str]]) -> dict:
    """What runs now, by the names the file gave: each host (up: its runtime answered `listed(n)`, its
    `pynet ps -a` rows), each network (host -> the subnets it routes to other hosts: `routes[n, name]`)
    and each container (its host, network, status and first address as its host's runtime says; a
    container the lab made that no runtime lists is `missing`)."""
    short = lambda name: name.removeprefix(lab["prefix"])  # noqa: E731
    names = list(networks(lab))
    now: dict = {"hosts": {}, "networks": {name: {} for name in names}, "containers": {}}
    for n, host in enumerate(lab["hosts"], 1):
        rows, name = listed(n), short(host["name"])
        now["hosts"][name] = {"up": rows is not None}
        for network in names:
            now["networks"][network][name] = routes.get((n, network), [])
        for row in rows or []:
            now["containers"][short(row["name"])] = {"host": name, "network": row["network"], "status": row["status"],
                                                     "address": (row["addresses"] or [""])[0]}
    for c in lab.get("containers", []):
        now["containers"].setdefault(short(c["name"]), {"host": short(lab["hosts"][c["host"] - 1]["name"]),
                                                        "network": c["network"], "status": "missing", "address": ""})
    return now


def networks(lab: dict) -> dict[str, dict]:
    """The lab's networks: name -> overlay configuration (a lab.json of before labs had several
    networks has only its `config`)."""
    return lab.get("networks") or {lab["network"]: lab["config"]}


def device_of(config: dict) -> str:
    """The overlay's device on each host: VXLAN's pnx<vni>, or WireGuard's pnw<vni> when encrypted."""
    return f"{'pnw' if config.get('encrypt') else 'pnx'}{config['vni']}"


def peers_in(routes: str) -> list[str]:
    """The subnets of other hosts in `ip -4 route show dev DEVICE` output (the device has no others)."""
    return [line.split()[0] for line in routes.splitlines() if line.split() and "/" in line.split()[0]]


def report(lab: dict) -> str:
    """The topology and the figures, for people."""
    store = lab["store"] + (f" at {lab['config']['store']['endpoints'][0]}" if lab.get("vm") else "")
    lines = [f"underlay: bridge ulbr in netns {lab['underlay']} ({UNDERLAY}), store: {store}"]
    for config in networks(lab).values():
        lines.append(f"overlay {config['name']}: {'WireGuard' if config.get('encrypt') else 'VXLAN'} "
                     f"vni {config['vni']}, {config['network']}")
    leases = {u: s for s, u in lab.get("leases", {}).items()}
    for n, h in enumerate(lab["hosts"], 1):
        what = f"VM {h['vm']}, qemu pid {h['qemu']}{'' if h.get('running', True) else ' (not running)'}: " \
            if h.get("vm") else ""
        containers = [c for c in lab.get("containers", []) if c["host"] == n] or \
            [{"name": h["container"], "address": h["address"], "network": lab["network"]}]
        lines.append(f"  {h['name']} ({what}{h['underlay']}) -- "
                     + "; ".join(f"container {c['name']} {c['address']}" + (
                         f" ({c['network']})" if len(networks(lab)) > 1 else "") for c in containers)
                     + (f", lease {leases[h['underlay']]}" if h["underlay"] in leases else "")
                     + (f", routes to {', '.join(h['peers'])}" if "peers" in h else ""))
    if lab.get("vm"):
        lines.append(f"  consoles: {os.path.join(lab['dir'], 'vm*.log')}; "
                     "`pynet lab on N -- ARGS` runs pynet ARGS in VM N")
    if lab.get("convergence"):
        c = lab["convergence"]
        entries = "WireGuard peer and route" if lab["config"].get("encrypt") else "route, neighbour and FDB entries"
        lines.append(f"convergence (from a host's first ADD until every other host had its {entries}): "
                     f"median {c['median_s']} s, p95 {c['p95_s']} s, max {c['max_s']} s of {c['n']} hosts")
    joined = [h for h in lab["hosts"] if "reachable_s" in h]
    for h in joined:
        lines.append(f"{h['name']} joined later: convergence {h['convergence_s']} s, every ping answered after "
                     f"{h['reachable_s']} s ({h.get('reachable_after_run_s')} s after its pynet run returned)")
    if "up_s" in lab:
        lines.append(f"up in {lab['up_s']} s; first cross-host ping {lab['first_ping_s']} s after start; "
                     "every container pinged every other" + ("" if lab.get("vm") else " by name"))
    if "alive" in lab:
        lines.append(f"processes alive: {len(lab['alive'])} of {len(lab['pids'])}")
    return "\n".join(lines)
