"""iptables driver, for hosts whose firewall is managed with iptables.

Rules go into pynet's own chains (PYNET-*), reached by one jump from the built-in chains, through
`iptables-restore --noflush` (atomic per table), so they land in whichever backend (nft or legacy)
the host's `iptables` uses. Each rule carries `--comment "pynet:<kind>:<owner>"`, so removal is
exact. Unlike the nftables driver, the rule count grows with containers and ports (iptables has no
maps); `icc: false` needs bridge-level filtering and is refused (code 2): use nftables for it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from contextlib import contextmanager

from ..spec import CNIError
from ..spec import errors
from . import FORWARD, ICC, MASQUERADE, PORTS

# (table, pynet chain, built-in chain it hangs off, match on the jump)
CHAINS = [
    ("nat", "PYNET-POSTROUTING", "POSTROUTING", []),
    ("nat", "PYNET-PORTS", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL"]),
    ("nat", "PYNET-PORTS", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL"]),
    ("filter", "PYNET-FORWARD", "FORWARD", []),
]
LOCK = "/run/pynet/iptables.lock"


def _tool(address: str, restore: bool = False, save: bool = False) -> str:
    base = "ip6tables" if ":" in address else "iptables"
    return base + ("-restore" if restore else "-save" if save else "")


def _quote(arg: str) -> str:
    """iptables-restore understands double quotes only (our comments never contain one)."""
    return f'"{arg}"' if any(c.isspace() or c in "'\\" for c in arg) or not arg else arg


def _mark(kind: str, owner: str) -> list[str]:
    return ["-m", "comment", "--comment", f"pynet:{kind}:{owner}"]


class Iptables:
    name = "iptables"

    def __init__(self) -> None:
        self._created: list[tuple] = []

    def _run(self, argv: list[str], stdin: str = "", check: bool = True) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise CNIError(errors.NOT_AVAILABLE, f"{argv[0]} is not installed",
                           "install the iptables package, or use \"firewallBackend\": \"nftables\"") from None
        if check and done.returncode != 0:
            raise CNIError(errors.KERNEL, f"{argv[0]} failed", done.stderr.strip()[:500])
        return done

    @contextmanager
    def _locked(self):
        """One pynet change at a time (check-then-add of ports must not race)."""
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _ensure_chains(self, tool: str) -> None:
        """pynet's chains and the jumps to them; those created now are remembered for the undo."""
        for table, chain, parent, match in CHAINS:
            if self._run([tool, "-w", "-t", table, "-N", chain], check=False).returncode == 0:
                self._created.append((tool, table, chain, None))
            jump = [tool, "-w", "-t", table, "{}", parent, *match, "-j", chain]
            if self._run([a.replace("{}", "-C") for a in jump], check=False).returncode != 0:
                self._run([a.replace("{}", "-I") for a in jump])
                self._created.append((tool, table, chain, jump))

    def _remove_created(self) -> None:
        """Undo _ensure_chains: the jumps it inserted, then the chains it created if left empty."""
        for tool, table, chain, jump in reversed(self._created):
            if jump:
                self._run([a.replace("{}", "-D") for a in jump], check=False)
            elif not self._run([tool, "-w", "-t", table, "-S", chain], check=False).stdout.strip().count("\n"):
                self._run([tool, "-w", "-t", table, "-X", chain], check=False)
        self._created.clear()

    def _apply(self, tool: str, rules: dict[str, list[list[str]]]) -> None:
        """Append rules ({table: [rule args]}) in one iptables-restore --noflush per table."""
        self._ensure_chains(tool)
        script = "".join(f"*{table}\n" + "".join(" ".join(_quote(a) for a in r) + "\n" for r in lines)
                         + "COMMIT\n" for table, lines in rules.items() if lines)
        if script:
            self._run([tool + "-restore", "-w", "--noflush"], script)

    def _owned(self, tool: str, kind: str, owner: str = "") -> dict[str, list[str]]:
        """table -> saved rules ("-A ...") tagged with kind (and owner, if given)."""
        found: dict[str, list[str]] = {}
        saved = self._run([tool + "-save"], check=False).stdout
        table = ""
        tag = f'"pynet:{kind}:{owner}"' if owner else f'"pynet:{kind}:'
        for line in saved.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith("-A PYNET-") and tag in line:
                found.setdefault(table, []).append(line)
        return found

    def _delete(self, tool: str, kind: str, owner: str) -> None:
        owned = self._owned(tool, kind, owner)
        script = "".join(f"*{table}\n" + "".join("-D" + line[2:] + "\n" for line in lines) + "COMMIT\n"
                         for table, lines in owned.items())
        if script:
            self._run([tool + "-restore", "-w", "--noflush"], script)

    def _undo(self, tools: set[str], kind: str, owner: str):
        created, self._created = self._created, []

        def undo() -> None:
            for tool in tools:
                self._delete(tool, kind, owner)
            self._created = created
            self._remove_created()
        return undo

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]):
        tools = set()
        with self._locked():
            for address, subnet in zip(addresses, subnets):
                ip, tool = address.split("/")[0], _tool(address)
                tools.add(tool)
                multicast = "ff00::/8" if ":" in ip else "224.0.0.0/4"
                self._apply(tool, {"nat": [
                    ["-A", "PYNET-POSTROUTING", "-s", ip, "-d", subnet, *_mark(MASQUERADE, owner), "-j", "RETURN"],
                    ["-A", "PYNET-POSTROUTING", "-s", ip, "!", "-d", multicast, *_mark(MASQUERADE, owner),
                     "-j", "MASQUERADE"]]})
        return self._undo(tools, MASQUERADE, owner)

    def add_port_mappings(self, owner: str, mappings: list[dict]):
        tools = set()
        with self._locked():
            for m in mappings:
                tool = _tool(m["address"])
                taken = [line for lines in self._owned(tool, PORTS).values() for line in lines
                         if f"-p {m['protocol']} " in line and f"--dport {m['host_port']} " in line
                         and "-j DNAT" in line and (not m["host_ip"] or "-d " not in line
                                                    or f"-d {m['host_ip']}/" in line)]
                if taken:
                    self._delete_all(tools, owner)
                    raise CNIError(errors.PORT_TAKEN, "host port already published",
                                   f"{m['host_ip'] or '*'}:{m['host_port']}/{m['protocol']} is published by "
                                   "another container")
                tools.add(tool)
                target = f"[{m['address']}]:{m['container_port']}" if ":" in m["address"] else \
                    f"{m['address']}:{m['container_port']}"
                dnat = ["-A", "PYNET-PORTS", "-p", m["protocol"], "--dport", str(m["host_port"])]
                if m["host_ip"]:
                    dnat += ["-d", m["host_ip"]]
                rules = [[*dnat, *_mark(PORTS, owner), "-j", "DNAT", "--to-destination", target]]
                if m["snat"]:
                    loopback = "::1" if ":" in m["address"] else "127.0.0.0/8"
                    for source in (loopback, m.get("subnet") or ""):
                        if source:
                            # first in the chain: before any container's RETURN for its own subnet
                            rules.append(["-I", "PYNET-POSTROUTING", "-s", source, "-d", m["address"], "-p",
                                          m["protocol"], "--dport", str(m["container_port"]), "-m", "conntrack",
                                          "--ctstate", "DNAT", *_mark(PORTS, owner), "-j", "MASQUERADE"])
                self._apply(tool, {"nat": rules})
        created, self._created = self._created, []

        def undo() -> None:
            self._delete_all(tools, owner)
            self._created = created
            self._remove_created()
        return undo

    def _delete_all(self, tools: set[str], owner: str) -> None:
        for tool in tools:
            self._delete(tool, PORTS, owner)

    def allow_forwarding(self, owner: str, addresses: list[str]):
        tools = set()
        with self._locked():
            for address in addresses:
                ip, tool = address.split("/")[0], _tool(address)
                tools.add(tool)
                self._apply(tool, {"filter": [
                    ["-A", "PYNET-FORWARD", "-d", ip, *_mark(FORWARD, owner), "-j", "ACCEPT"],
                    ["-A", "PYNET-FORWARD", "-s", ip, *_mark(FORWARD, owner), "-j", "ACCEPT"]]})
        return self._undo(tools, FORWARD, owner)

    def isolate_bridge(self, network: str, bridge: str, peers: tuple[str, ...] = ()):
        """DROP between `bridge` (with its `peers`, links of the same network) and every other isolated
        bridge (both ways), first in PYNET-FORWARD."""
        group = (bridge, *peers)
        with self._locked():
            tool = "iptables"
            self._ensure_chains(tool)
            others = set()
            for line in self._owned(tool, "isolated").get("filter", []):
                words = line.split()
                others.add(words[words.index("-i") + 1])
            if bridge in others:
                return lambda: None
            others -= set(group)
            rules = [["-I", "PYNET-FORWARD", "-i", a, "-o", b, *_mark("isolated", network), "-j", "RETURN"]
                     for a in group for b in group]
            for member in group:
                for other in sorted(others):
                    for a, b in ((member, other), (other, member)):
                        rules.append(["-I", "PYNET-FORWARD", "-i", a, "-o", b, *_mark("isolation", network),
                                      "-j", "DROP"])
            self._apply(tool, {"filter": rules})
        created, self._created = self._created, []

        def undo() -> None:
            self._delete(tool, "isolated", network)
            for member in group:
                self._delete_bridge_drops(member)
            self._created = created
            self._remove_created()
        return undo

    def remove_isolation(self, bridge: str, peers: tuple[str, ...] = ()) -> None:
        """Undo isolate_bridge once the bridge is gone (nothing if it was not isolated)."""
        with self._locked():
            saved = self._owned("iptables", "isolated").get("filter", [])
            mine = [line for line in saved if any(f"-i {m} " in line for m in (bridge, *peers))]
            if mine:
                self._run(["iptables-restore", "-w", "--noflush"],
                          "*filter\n" + "".join("-D" + line[2:] + "\n" for line in mine) + "COMMIT\n")
            for member in (bridge, *peers):
                self._delete_bridge_drops(member)

    def _delete_bridge_drops(self, bridge: str) -> None:
        saved = self._owned("iptables", "isolation").get("filter", [])
        mine = [line for line in saved if f"-i {bridge} " in line or f"-o {bridge} " in line]
        if mine:
            self._run(["iptables-restore", "-w", "--noflush"],
                      "*filter\n" + "".join("-D" + line[2:] + "\n" for line in mine) + "COMMIT\n")

    def forget_network(self, network: str, bridge: str) -> None:
        """Remove what a deleted network left: its bridge's isolation rules."""
        with self._locked():
            self._delete("iptables", "isolated", network)
            self._delete_bridge_drops(bridge)

    def deny_icc(self, owner: str, port: str):
        raise CNIError(errors.UNSUPPORTED_FIELD, "icc: false needs the nftables firewall driver",
                       "set \"firewallBackend\": \"nftables\" (iptables cannot filter bridged traffic here)")

    def remove(self, owner: str, kind: str, expected=None) -> None:
        if kind == ICC:
            return
        with self._locked():
            for tool in ("iptables", "ip6tables"):
                self._delete(tool, kind, owner)

    def owned(self, owner: str, kind: str) -> set[str]:
        """`owner`'s rules of one kind, in the nftables driver's "set: key" terms where they map."""
        found = set()
        for tool in ("iptables", "ip6tables"):
            for lines in self._owned(tool, kind, owner).values():
                for line in lines:
                    words = line.split()
                    if kind == PORTS and "DNAT" in words:
                        family = "6" if tool == "ip6tables" else "4"
                        key = f"{words[words.index('-p') + 1]} . {words[words.index('--dport') + 1]}"
                        if "-d" in words:
                            found.add(f"pm{family}ip: {words[words.index('-d') + 1].split('/')[0]} . {key}")
                        else:
                            found.add(f"pm{family}: {key}")
                    elif kind in (FORWARD, MASQUERADE):
                        flag = "-d" if kind == FORWARD and "-d" in words else "-s"
                        found.add(f"{kind}: {words[words.index(flag) + 1].split('/')[0]}")
        return found

    def missing(self, owner: str, addresses: list[str]) -> list[str]:
        have = {key.split(": ", 1)[1] for key in self.owned(owner, MASQUERADE)}
        return [a for a in addresses if a.split("/")[0] not in have]
