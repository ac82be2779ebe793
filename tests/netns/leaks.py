"""What a test left in the root namespace: what carries the test's token, and nothing else.

The root namespace is the machine's. pynet may be in use there (its own `table inet pynet`), other
tests (xdist workers, other checkouts) run at the same time, so its state changes during a test for
reasons of their own, and a before/after diff of it would blame the wrong test. What one test makes
carries its token in its name (namespaces, links, bridges, nft tables, chains, sets and their
elements), and that is what is looked for; what a test makes inside its namespaces goes with them,
and tests compare those before and after themselves (Netns.snapshot).
"""

from __future__ import annotations

import json
import os
import time

from .namespaces import sh


def root_leftovers(token: str, netns: str | None = None, wait: float = 0.0) -> list[str]:
    """What still carries `token` in the root namespace (or in `netns`, a simulated one):
    namespaces, links, nft objects and set elements (agent_files: what an agent of the test's
namespaces left, named by their inodes). With `wait`, allow that many seconds for the
    kernel's background teardown of deleted namespaces (a veth pair goes with its namespace)."""
    end = time.monotonic() + wait
    while True:
        found = _namespaces(token) + _links(token, netns) + _nft(token, netns)
        if not found or time.monotonic() >= end:
            return found
        time.sleep(0.1)


def agent_files(inodes) -> list[str]:
    """Files in the run directory of agents that served the namespaces `inodes` and are gone (a
    socket and lock nobody holds; a held one is a live agent's, of a namespace that got the inode
    again)."""
    from cni.agent import wire
    from cni.cli.agent import lock_holder

    found = []
    for inode in inodes:
        socket_path = wire.socket_path(os.environ, inode)
        if lock_holder(socket_path) is None:
            found += [path for path in (socket_path, socket_path + ".lock") if os.path.exists(path)]
    return found


def processes_in(netns: str, program: bytes) -> list[int]:
    """The pids of the processes in the namespace at `netns` whose command line holds `program` (the
    machine may run others of the kind: other tests', a lab's)."""
    from cni.kernel.netns import pids_in

    found = []
    for pid in pids_in(netns):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if program in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def dns_servers(netns: str) -> list[int]:
    """The DNS servers (cni.dns.server) running in the namespace at `netns`."""
    return processes_in(netns, b"cni.dns.server")


def _namespaces(token: str) -> list[str]:
    return [f"netns {n}" for n in os.listdir("/run/netns") if token in n] if os.path.isdir("/run/netns") else []


def _links(token: str, netns: str | None) -> list[str]:
    links = json.loads(sh("ip", "-j", "link", "show", netns=netns).stdout or "[]")
    return [f"link {link['ifname']}" for link in links
            if any(token in name for name in [link["ifname"], *link.get("altnames", [])])]


def _nft(token: str, netns: str | None) -> list[str]:
    """nft tables, chains, sets, maps, rules and set elements that carry `token`."""
    done = sh("nft", "-j", "list", "ruleset", check=False, netns=netns)
    try:
        items = json.loads(done.stdout)["nftables"]
    except (ValueError, KeyError, TypeError):
        return []
    found = []
    for item in items:
        (kind, obj), = item.items()
        if kind == "metainfo":
            continue
        family, table = obj.get("family", ""), obj.get("table", obj.get("name", ""))
        if kind == "table" or token in table:  # a table of the test's is reported once, as a table
            found += [f"nft table {family} {table}"] if kind == "table" and token in table else []
            continue
        name = obj.get("name") or f"{obj.get('chain', '')} handle {obj.get('handle', '')}"
        if token in json.dumps({k: v for k, v in obj.items() if k != "elem"}):
            found.append(f"nft {kind} {family} {table} {name}")
        found += [f"nft element {family} {table} {name} {json.dumps(e)}" for e in obj.get("elem", [])
                  if token in json.dumps(e)]
    return found
