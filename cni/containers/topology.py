"""`pynet topology`: the host's networks, bridges, veths, containers and addresses.

gather() reads the conf dir, the result cache, the runtime's state and the kernel's links (of the
network namespace pynet runs in, through cni.kernel.inventory); tree() and dot() render that model
without I/O.
"""

from __future__ import annotations

import os
import subprocess

from . import state
from . import netadmin
from ..kernel import inventory
from ..libcni.api import CNIConfig
from ..libcni.netconf import load_networks
from ..spec import CNIError


def _links(netns: str) -> dict[str, inventory.LinkState]:
    try:
        return inventory.all_links(netns)
    except CNIError as e:
        raise netadmin.NetworkError(f"cannot read the links of {netns or 'this network namespace'}: {e}") from None


def gather(netns: str = "") -> dict:
    """The model: {"host", "networks": [...], "containers": [...]} (containers not on a CNI network),
    with the links of the network namespace at `netns` (this one by default)."""
    links = _links(netns)
    everyone = state.all_containers()
    by_id = {c.id: c for c in everyone}
    cache = CNIConfig(path=[])
    networks, seen_ports = [], set()
    for net in load_networks(on_error=lambda e: None):
        bridge = netadmin.bridge_of(net)
        attachments = []
        for entry in cache.cached_attachments(net.name):
            c = by_id.get(entry["container_id"])
            result = entry.get("result") or {}
            host_veth = next((i["name"] for i in result.get("interfaces", [])
                              if not i.get("sandbox") and i.get("name") != bridge), "")
            seen_ports.add(host_veth)
            attachments.append({
                "container_id": entry["container_id"], "container": c.name if c else "",
                "status": c.status() if c else "unknown to pynet", "ifname": entry["ifname"],
                "host_veth": host_veth, "veth_present": host_veth in links,
                "addresses": [ip.get("address") for ip in result.get("ips", [])],
                "ports": c.ports if c else [], "joined_by": _joiners_of(c, everyone) if c else []})
        link = links.get(bridge)
        strays = [name for name, l in links.items() if bridge and l.master == bridge and name not in seen_ports]
        networks.append({"name": net.name, "type": net.plugins[0].get("type", "") if net.plugins else "",
                         "parent": net.plugins[0].get("master", "") if net.plugins else "",
                         "subnets": [str(s) for s in netadmin.network_subnets(net)], "bridge": bridge,
                         "bridge_state": (link.operstate if link else "absent") if bridge else "",
                         "bridge_addresses": list(link.addresses if link else ()), "other_ports": strays,
                         "attachments": attachments})
    others = [{"name": c.name, "id": c.id, "status": c.status(), "mode": _mode(c, by_id),
               "joined_by": _joiners_of(c, everyone)}
              for c in everyone if c.network in ("none", "host") or _orphan(c, by_id)]
    return {"host": {"netns": f"net:[{os.stat(netns or '/proc/self/ns/net').st_ino}]"}, "networks": networks,
            "containers": others}


def _joiners_of(c: state.Container, everyone: list[state.Container]) -> list[str]:
    return [o.name for o in everyone if o.network == f"container:{c.id}"]


def _orphan(c: state.Container, by_id: dict) -> bool:
    """Joined a container that was removed since: it keeps that namespace, with `lo` only."""
    return c.network.startswith("container:") and c.network.split(":", 1)[1] not in by_id


def _mode(c: state.Container, by_id: dict) -> str:
    if c.network.startswith("container:"):
        target = by_id.get(c.network.split(":", 1)[1])
        return f"container:{target.name if target else c.network.split(':', 1)[1][:12]}"
    return c.network


def _ports(ports: list[dict]) -> str:
    return ", ".join(f"{p['hostPort']}->{p['containerPort']}/{p['protocol']}" for p in ports)


def tree(model: dict) -> str:
    """The model as a text tree."""
    lines = [f"host ({model['host']['netns']})"]

    def branch(items: list, prefix: str, render) -> None:
        for n, item in enumerate(items):
            last = n == len(items) - 1
            head, rest = render(item)
            lines.append(f"{prefix}{'└── ' if last else '├── '}{head}")
            branch(rest, prefix + ("    " if last else "│   "), _leaf)

    def network(net):
        bridge = (f"bridge {net['bridge']} ({net['bridge_state']}) {' '.join(net['bridge_addresses'])}".rstrip()
                  if net["bridge"] else f"{net['type']} {net['parent']}".rstrip())
        children = [_attachment_line(a) for a in net["attachments"]]
        children += [(f"port {p} (no container pynet knows)", []) for p in net["other_ports"]]
        return f"network {net['name']}: {bridge}, subnet {', '.join(net['subnets']) or '-'}", children

    def other(c):
        what = {"host": "host network", "none": "loopback only"}.get(c["mode"], "the namespace of a removed container")
        return f"container {c['name']} [{c['status']}] {what}", [(f"joined by {j}", []) for j in c["joined_by"]]

    branch(model["networks"] + model["containers"], "", lambda x: network(x) if "attachments" in x else other(x))
    return "\n".join(lines)


def _attachment_line(a: dict) -> tuple[str, list]:
    veth = f"veth {a['host_veth']}{'' if a['veth_present'] else ' (missing)'} ── " if a["host_veth"] else ""
    who = a["container"] or a["container_id"][:12]
    line = f"{veth}container {who} [{a['status']}] {a['ifname']} {' '.join(a['addresses'])}".rstrip()
    if a["ports"]:
        line += f"  ports {_ports(a['ports'])}"
    return line, [(f"joined by {j}", []) for j in a["joined_by"]]


def _leaf(item: tuple[str, list]) -> tuple[str, list]:
    return item


def _q(*lines: str) -> str:
    """A Graphviz string of `lines` (a label on several lines, or an id)."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines) + '"'


def dot(model: dict) -> str:
    """The model as a Graphviz graph."""
    out = ["graph pynet {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];',
           f"  host [shape=box3d, label={_q('host', model['host']['netns'])}];"]
    for net in model["networks"]:
        node = _q(f"net:{net['name']}")
        label = _q(*filter(None, [f"network {net['name']}", f"bridge {net['bridge']}" if net["bridge"]
                                  else f"{net['type']} {net['parent']}".rstrip(),
                                  *net["bridge_addresses"], *net["subnets"]]))
        out += [f"  {node} [shape=ellipse, label={label}];", f"  host -- {node};"]
        for a in net["attachments"]:
            ctr = _q(f"ctr:{a['container_id']}")
            label = _q(a["container"] or a["container_id"][:12], a["status"],
                       *[f"{a['ifname']} {ip}" for ip in a["addresses"]])
            link = _q(a["host_veth"] or net["type"])
            out += [f"  {ctr} [shape=box, label={label}];", f"  {node} -- {ctr} [label={link}];"]
            out += _joiners(ctr, a["joined_by"])
    for c in model["containers"]:
        ctr = _q(f"ctr:{c['id']}")
        out.append(f"  {ctr} [shape=box, label={_q(c['name'], c['status'], c['mode'])}];")
        if c["mode"] == "host":
            out.append(f"  host -- {ctr} [style=bold, label={_q('host network')}];")
        out += _joiners(ctr, c["joined_by"])
    out.append("}")
    return "\n".join(out) + "\n"


def _joiners(target: str, names: list[str]) -> list[str]:
    return [f"  {_q('join:' + n)} [shape=box, style=dashed, label={_q(n)}];\n"
            f"  {_q('join:' + n)} -- {target} [style=dashed, label={_q('container:')}];" for n in names]


def svg(model: dict) -> bytes:
    """The graph drawn by Graphviz's `dot` (which must be installed)."""
    from shutil import which

    if not which("dot"):
        raise RuntimeError("--format svg needs Graphviz's dot (apt-get install graphviz); --format dot prints "
                           "the graph as text")
    done = subprocess.run(["dot", "-Tsvg"], input=dot(model).encode(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace').strip()[:200]}")
    return done.stdout
