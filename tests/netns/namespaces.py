"""Create, use and always remove network namespaces; find what a test leaked."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time

from cni.kernel.netns import kill_all_in

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

    def run(self, *argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return sh(*argv, check=check, netns=self.name, **kw)

    def links(self) -> dict[str, dict]:
        """The namespace's links by name, as `ip -j link` reports them."""
        out = self.run("ip", "-j", "link", "show").stdout
        return {link["ifname"]: link for link in json.loads(out or "[]")}

    def snapshot(self) -> dict:
        """The namespace's links (kind, master, addresses), routes and nftables ruleset, to compare."""
        addrs = json.loads(self.run("ip", "-j", "-d", "addr", "show").stdout or "[]")
        links = {a["ifname"]: (a.get("linkinfo", {}).get("info_kind", ""), a.get("master", ""),
                               sorted(f"{i['local']}/{i['prefixlen']}" for i in a.get("addr_info", [])
                                      if i.get("scope") != "link"))
                 for a in addrs}
        # "linkdown" follows a bridge's carrier, which settles a moment after its last port goes
        routes = sorted(r.replace(" linkdown", "") for r in self.run("ip", "-4", "route", "show").stdout.splitlines())
        ruleset = self.run("nft", "list", "ruleset", check=False).stdout
        return {"links": links, "routes": routes, "nft": _configuration(ruleset)}

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def delete(self) -> None:
        if self.exists():
            kill_all_in(self.path)
            sh("ip", "netns", "delete", self.name, check=False)

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


def _configuration(ruleset: str) -> str:
    """An nft ruleset without what traffic changes (counters) and without the empty built-in
    chains iptables-nft leaves behind once used (on a legacy host they always exist)."""
    ruleset = re.sub(r"counter packets \d+ bytes \d+", "counter", ruleset)
    empty_chain = r"\tchain \w+ \{\n\t\ttype [^\n]*policy accept;\n\t\}\n\n?"
    ruleset = re.sub(empty_chain, "", ruleset)
    return re.sub(r"table ip6? (nat|filter|mangle|raw) \{\n\}\n", "", ruleset)


def root_leftovers(token: str) -> list[str]:
    """What in the root namespace still carries `token`: namespaces, links, nft tables."""
    found = [f"netns {n}" for n in os.listdir("/run/netns") if token in n] if os.path.isdir("/run/netns") else []
    links = json.loads(sh("ip", "-j", "link", "show").stdout or "[]")
    found += [f"link {link['ifname']}" for link in links if token in link["ifname"]]
    tables = sh("nft", "list", "tables", check=False).stdout if _have("nft") else ""
    found += [f"nft {line}" for line in tables.splitlines() if token in line or "pynet" in line]
    return found


def _have(program: str) -> bool:
    return any(os.access(os.path.join(d, program), os.X_OK) for d in os.environ.get("PATH", "").split(":") if d)
