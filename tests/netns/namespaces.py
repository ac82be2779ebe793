"""Create, use and always remove network namespaces."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time

from cni.agent import wire
from cni.agent.supervisor import sweep
from cni.dns import daemon as dns_daemon
from cni.kernel.netns import kill_all_in

from . import state

PREFIX = "pnt"  # every test object's name starts with this ("pynet test")


def new_token() -> str:
    """A short unique token for one test (names must stay within 15 bytes for links)."""
    return secrets.token_hex(3)


def sh(*argv: str, check: bool = True, netns: str | None = None, **kw) -> subprocess.CompletedProcess:
    """Run a command (inside `netns` when given), text output captured."""
    if netns:
        argv = ("ip", "netns", "exec", netns, *argv)
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


class Netns:
    """A named network namespace under /run/netns, removed by delete() (idempotent)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/run/netns/{name}"
        sh("ip", "netns", "add", name)
        sh("ip", "link", "set", "lo", "up", netns=name)
        self.inode = os.stat(self.path).st_ino  # what an agent serving it names its socket after

    def run(self, *argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return sh(*argv, check=check, netns=self.name, **kw)

    def links(self) -> dict[str, dict]:
        """The namespace's links by name, as `ip -j link` reports them."""
        out = self.run("ip", "-j", "link", "show").stdout
        return {link["ifname"]: link for link in json.loads(out or "[]")}

    def snapshot(self, switches: bool = False) -> dict:
        """The namespace's state, to compare before and after: links (kind, master, addresses) and
        their state (MTU, MAC, up and other flags, options of their kind and bridge port), IPv4 and
        IPv6 routes of every table, policy rules, permanent neighbours and FDB remotes, the nftables
        ruleset, the net.* sysctls. The routing switches (forwarding, route_localnet) only with
        `switches`: a network's first container turns them on for good, as with the reference, so
        only a failed ADD must leave them as they were."""
        return state.snapshot(self.run, switches)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def delete(self) -> list[str]:
        """Kill what runs in it (an agent or DNS server a plugin call started, say), sweep the files
        of the agents and servers that died with it from the run directory (/run/pynet unless
        PYNET_RUN_DIR says otherwise), and remove it. Returns what such an agent still left there, looked at while the namespace
        exists (once it is gone, another test's namespace may get its inode, and its agent's name)."""
        from .leaks import agent_files  # (leaks uses this module's sh)

        if not self.exists():
            return []
        kill_all_in(self.path)
        sweep(wire.run_dir(), keep="")
        if os.path.isdir(wire.run_dir()):
            dns_daemon.sweep(wire.run_dir(), keep="")  # a DNS server a dnsname ADD started there
        left = agent_files([self.inode])
        sh("ip", "netns", "delete", self.name, check=False)
        return left

    def __repr__(self) -> str:
        return f"Netns({self.name!r})"


def wait_until(predicate, what: str, timeout: float = 10.0):
    """Poll `predicate` until it is true (and return its value); fail the test after `timeout` s."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def link_outside(host: Netns, outside: Netns) -> None:
    """Join `outside` (another network behind the host) to `host`: 192.0.2.1 on the host's up0,
    192.0.2.2 on outside's up1; outside has no route to the host's container networks."""
    host.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", outside.name)
    host.run("ip", "addr", "add", "192.0.2.1/24", "dev", "up0")
    host.run("ip", "link", "set", "up0", "up")
    outside.run("ip", "addr", "add", "192.0.2.2/24", "dev", "up1")
    outside.run("ip", "link", "set", "up1", "up")
