"""iptables driver, for hosts whose firewall is managed with iptables.

Rules go into pynet's own chains (PYNET-*), reached by one jump from the built-in chains, through
`iptables-restore --noflush` (atomic per table), so they land in whichever backend (nft or legacy)
the host's `iptables` uses. Each rule carries `--comment "pynet:<kind>:<owner>"`, so removal is
exact; the unreferenced chain PYNET-ATTACHED holds one marker rule per attachment of a network with
isolation, so the network's isolation leaves with its last attachment. A chain left empty goes with
its jump. Unlike the nftables driver, the rule count grows with containers and ports (iptables has
no maps); `icc: false` needs bridge-level filtering and is refused (code 2): use nftables for it.
"""

from __future__ import annotations

import re
import subprocess

from ..spec import CNIError
from ..spec import errors
from . import foreign
from .terms import FORWARD, ICC, MASQUERADE, PORTS, destination, host_port, mapping_text, network_label, network_of
from .lock import host_lock

# (table, pynet chain, built-in chain it hangs off (None: no jump), match on the jump)
CHAINS = [
    ("nat", "PYNET-POSTROUTING", "POSTROUTING", []),
    ("nat", "PYNET-PORTS", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL"]),
    ("nat", "PYNET-PORTS", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL"]),
    ("filter", "PYNET-FORWARD", "FORWARD", []),
    ("filter", "PYNET-ATTACHED", None, []),
]
ATTACHED, ISOLATED, ISOLATION = "attached", "isolated", "isolation"
OWNER_KINDS = (MASQUERADE, PORTS, FORWARD, ATTACHED)  # tagged with an owner; the others with a network
TOOLS = ("iptables", "ip6tables")


def _quote(arg: str) -> str:
    """iptables-restore understands double quotes only (our comments never contain one)."""
    return f'"{arg}"' if any(c.isspace() or c in "'\\" for c in arg) or not arg else arg


def _mark(kind: str, owner: str) -> list[str]:
    return ["-m", "comment", "--comment", f"pynet:{kind}:{owner}"]


_TAG = re.compile(r'--comment "?pynet:([^:" ]+):([^" ]*)')


def _tagged(line: str) -> tuple[str, str]:
    """(kind, owner or network) of a saved pynet rule; ("", "") for any other line."""
    found = _TAG.search(line)
    return (found[1], found[2]) if found else ("", "")


class Saved:
    """One table as iptables-save prints it: its chains and its rules ("-A CHAIN ...")."""

    def __init__(self) -> None:
        self.chains: set[str] = set()
        self.rules: list[str] = []


class Iptables:
    name = "iptables"

    def __init__(self, variant: str = "") -> None:
        self.variant = variant  # "" (the host's iptables), "-nft" or "-legacy"

    def _tool(self, address: str) -> str:
        return ("ip6tables" if ":" in address else "iptables") + self.variant

    def _run(self, argv: list[str], stdin: str = "", check: bool = True) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise CNIError(errors.NOT_AVAILABLE, f"{argv[0]} is not installed",
                           "install the iptables package, or use \"firewallBackend\": \"nftables\"") from None
        if check and done.returncode != 0:
            raise CNIError(errors.KERNEL, f"{argv[0]} failed", done.stderr.strip()[:500])
        return done

    def _saved(self, tool: str) -> dict[str, Saved]:
        """table -> its chains and rules, as iptables-save prints them."""
        found: dict[str, Saved] = {}
        table = Saved()
        for line in self._run([tool + "-save"], check=False).stdout.splitlines():
            if line.startswith("*"):
                table = found.setdefault(line[1:], Saved())
            elif line.startswith(":"):
                table.chains.add(line[1:].split()[0])
            elif line.startswith("-A "):
                table.rules.append(line)
        return found

    def _ensure_chains(self, tool: str, tables) -> None:
        """pynet's chains of `tables` and the jumps to them."""
        for table, chain, parent, match in CHAINS:
            if table not in tables:
                continue
            self._run([tool, "-w", "-t", table, "-N", chain], check=False)
            if parent:
                jump = [tool, "-w", "-t", table, "{}", parent, *match, "-j", chain]
                if self._run([a.replace("{}", "-C") for a in jump], check=False).returncode != 0:
                    self._run([a.replace("{}", "-I") for a in jump])

    def _apply(self, tool: str, rules: dict[str, list[list[str]]]) -> None:
        """Append rules ({table: [rule args]}) in one iptables-restore --noflush per table."""
        self._ensure_chains(tool, [t for t, lines in rules.items() if lines])
        script = "".join(f"*{table}\n" + "".join(" ".join(_quote(a) for a in r) + "\n" for r in lines)
                         + "COMMIT\n" for table, lines in rules.items() if lines)
        if script:
            self._run([tool + "-restore", "-w", "--noflush"], script)

    def _owned(self, tool: str, kind: str, owner: str = "") -> dict[str, list[str]]:
        """table -> saved rules ("-A ...") tagged with kind (and owner, if given)."""
        return {table: mine for table, saved in self._saved(tool).items()
                if (mine := [line for line in saved.rules if line.startswith("-A PYNET-")
                             and _tagged(line)[0] == kind and (not owner or _tagged(line)[1] == owner)])}

    # ---- removal: what is doomed, then whatever that leaves without a reason to be ----------------

    def _retract(self, doomed) -> None:
        """Delete the saved pynet rules for which doomed(kind, tag) is true, in every family; then
        the isolation of networks left without attachments, and chains left empty with their jumps."""
        with host_lock():
            for tool in (t + self.variant for t in TOOLS):
                saved = self._saved(tool)
                if not any(chain.startswith("PYNET-") for table in saved.values() for chain in table.chains):
                    continue
                script = "".join(f"*{table}\n" + "".join(f"{command}\n" for command in commands) + "COMMIT\n"
                                 for table, commands in _tidy(saved, doomed).items())
                if script:
                    self._run([tool + "-restore", "-w", "--noflush"], script)

    def remove(self, owner: str, kind: str, expected=None) -> None:
        if kind == ICC:
            return
        self._retract(lambda k, tag: k == kind and tag == owner)
        if kind == FORWARD and not self.variant:
            self._close_foreign(owner)

    def release(self, network: str, owner: str, expected=None) -> None:
        self._retract(lambda k, tag: tag == owner and k in OWNER_KINDS)
        if not self.variant:
            self._close_foreign(owner)

    def forget_network(self, network: str) -> None:
        prefix = network_label(network) + "/"
        self._retract(lambda k, tag: k in OWNER_KINDS and tag.startswith(prefix))
        with host_lock():
            for owner in foreign.owners(foreign.forward_chains()[1], prefix):
                self._close_foreign(owner)

    def tags(self, prefix: str, kinds=OWNER_KINDS) -> set[str]:
        """The owner tags starting with `prefix` of pynet's rules of `kinds`."""
        return {tag for tool in TOOLS for saved in self._saved(tool + self.variant).values() for line in saved.rules
                if (kind_tag := _tagged(line))[0] in kinds and (tag := kind_tag[1]).startswith(prefix)}

    def owners(self, network: str) -> set[str]:
        prefix = network_label(network) + "/"
        return self.tags(prefix) | foreign.owners(foreign.forward_chains()[1], prefix)

    def _undo(self, kind: str, owner: str, registered: bool = False):
        def undo() -> None:
            self._retract(lambda k, tag: tag == owner and (k == kind or (registered and k == ATTACHED)))
        return undo

    # ---- additions ------------------------------------------------------------------------------

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]):
        with host_lock():
            for address, subnet in zip(addresses, subnets):
                ip = address.split("/")[0]
                multicast = "ff00::/8" if ":" in ip else "224.0.0.0/4"
                self._apply(self._tool(address), {"nat": [
                    ["-A", "PYNET-POSTROUTING", "-s", ip, "-d", subnet, *_mark(MASQUERADE, owner), "-j", "RETURN"],
                    ["-A", "PYNET-POSTROUTING", "-s", ip, "!", "-d", multicast, *_mark(MASQUERADE, owner),
                     "-j", "MASQUERADE"]]})
        return self._undo(MASQUERADE, owner)

    def add_port_mappings(self, owner: str, mappings: list[dict]):
        undo = self._undo(PORTS, owner)
        with host_lock():
            for m in mappings:
                tool = self._tool(m["address"])
                taken = [line for lines in self._owned(tool, PORTS).values() for line in lines
                         if f"-p {m['protocol']} " in line and f"--dport {m['host_port']} " in line
                         and "-j DNAT" in line and (not m["host_ip"] or "-d " not in line
                                                    or f"-d {m['host_ip']}/" in line)]
                if taken:
                    undo()
                    raise CNIError(errors.PORT_TAKEN, "host port already published",
                                   f"{host_port(m)} is published by another container")
                dnat = ["-A", "PYNET-PORTS", "-p", m["protocol"], "--dport", str(m["host_port"])]
                if m["host_ip"]:
                    dnat += ["-d", m["host_ip"]]
                rules = [[*dnat, *_mark(PORTS, owner), "-j", "DNAT", "--to-destination", destination(m)]]
                if m["snat"]:
                    loopback = "::1" if ":" in m["address"] else "127.0.0.0/8"
                    for source in (loopback, m.get("subnet") or ""):
                        if source:
                            # first in the chain: before any container's RETURN for its own subnet
                            rules.append(["-I", "PYNET-POSTROUTING", "-s", source, "-d", m["address"], "-p",
                                          m["protocol"], "--dport", str(m["container_port"]), "-m", "conntrack",
                                          "--ctstate", "DNAT", *_mark(PORTS, owner), "-j", "MASQUERADE"])
                self._apply(tool, {"nat": rules})
        return undo

    def accept_forwarding(self, owner: str, addresses: list[str]) -> None:
        """Accept in PYNET-FORWARD (jumped to first from FORWARD) what `addresses` send, and their
        replies and published ports: the reference firewall plugin's rules."""
        with host_lock():
            for address in addresses:
                ip = address.split("/")[0]
                self._apply(self._tool(address), {"filter": [
                    ["-A", "PYNET-FORWARD", "-s", ip, *_mark(FORWARD, owner), "-j", "ACCEPT"],
                    ["-A", "PYNET-FORWARD", "-d", ip, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT",
                     *_mark(FORWARD, owner), "-j", "ACCEPT"]]})

    def allow_forwarding(self, owner: str, addresses: list[str]):
        """iptables' FORWARD always (as the reference does, so a policy DROP set later is covered),
        and any other firewall's nft chain that closes the forward path now."""
        undo = self._undo(FORWARD, owner)
        with host_lock():
            try:
                self.accept_forwarding(owner, addresses)
                foreign.open_path(foreign.forward_chains()[1], owner, addresses)
            except CNIError:
                undo()
                self._close_foreign(owner)
                raise
        return lambda: (undo(), self._close_foreign(owner))

    def _close_foreign(self, owner: str) -> None:
        with host_lock():
            foreign.close_path(foreign.forward_chains()[1], owner)

    def isolate_bridge(self, network: str, owner: str, bridge: str, peers: tuple[str, ...] = ()):
        """DROP between `bridge` (with its `peers`, links of the same network) and every other isolated
        bridge (both ways), first in PYNET-FORWARD; `owner` is marked as one of its attachments."""
        group, label, tool = (bridge, *peers), network_label(network), "iptables" + self.variant
        with host_lock():
            self._ensure_chains(tool, ["filter"])
            rules = [["-A", "PYNET-ATTACHED", *_mark(ATTACHED, owner), "-j", "RETURN"]]
            registered = not self._owned(tool, ATTACHED, owner)
            if not registered:
                rules = []
            others = set()
            for line in self._owned(tool, ISOLATED).get("filter", []):
                words = line.split()
                others.add(words[words.index("-i") + 1])
            if bridge not in others:
                others -= set(group)
                rules += [["-I", "PYNET-FORWARD", "-i", a, "-o", b, *_mark(ISOLATED, label), "-j", "RETURN"]
                          for a in group for b in group]
                pairs = [p for member in group for other in sorted(others) for p in ((member, other), (other, member))]
                rules += [["-I", "PYNET-FORWARD", "-i", a, "-o", b, *_mark(ISOLATION, label), "-j", "DROP"]
                          for a, b in pairs]
            self._apply(tool, {"filter": rules})
        return self._undo(ATTACHED, owner) if registered else (lambda: None)

    def deny_icc(self, owner: str, port: str):
        raise CNIError(errors.UNSUPPORTED_FIELD, "icc: false needs the nftables firewall driver",
                       "set \"firewallBackend\": \"nftables\" (iptables cannot filter bridged traffic here)")

    # ---- CHECK ----------------------------------------------------------------------------------

    def _rules(self, owner: str, kind: str) -> list[list[str]]:
        """`owner`'s rules of one kind in every family, as words."""
        return [line.split() for tool in TOOLS for lines in self._owned(tool + self.variant, kind, owner).values()
                for line in lines]

    def missing(self, owner: str, kind: str, expected: list) -> list[str]:
        """Which of the addresses `expected` have no rule of `owner`'s of `kind` from them (for
        FORWARD, also no accept in a foreign chain that closes the path); (PORTS) which mappings
        have no DNAT rule of `owner`'s to the container."""
        rules = self._rules(owner, kind)
        if kind == PORTS:
            published = {(_after(w, "-p"), _after(w, "--dport"), _after(w, "-d").split("/")[0],
                          _after(w, "--to-destination")) for w in rules if "DNAT" in w}
            return [mapping_text(m) for m in expected
                    if (m["protocol"], str(m["host_port"]), m["host_ip"], destination(m)) not in published]
        sources = {_after(w, "-s").split("/")[0] for w in rules}
        gaps = [a for a in expected if a.split("/")[0] not in sources]
        if kind == FORWARD and not self.variant:
            gaps += foreign.missing(foreign.forward_chains()[1], owner, expected)
        return gaps


def _after(words: list[str], option: str) -> str:
    """The value of `option` in a saved rule's words ("" without it)."""
    return words[words.index(option) + 1] if option in words else ""


def _tidy(saved: dict[str, Saved], doomed) -> dict[str, list[str]]:
    """table -> the iptables-restore commands that delete the doomed rules, the isolation of every
    network without an attachment left (with the drops against its bridges), and pynet's chains of
    a table left without rules, with their jumps."""
    ours = [line for table in saved.values() for line in table.rules if line.startswith("-A PYNET-")]
    gone = {line for line in ours if doomed(*_tagged(line))}
    left = [line for line in ours if line not in gone]
    members = {network_of(_tagged(line)[1]) for line in left if _tagged(line)[0] in OWNER_KINDS}
    for line in left:
        kind, label = _tagged(line)
        if kind == ISOLATED and label not in members:
            bridge = line.split()[line.split().index("-i") + 1]
            gone |= {other for other in left if _tagged(other)[0] in (ISOLATED, ISOLATION)
                     and (f"-i {bridge} " in other or f"-o {bridge} " in other)}
    commands = {}
    for name, table in saved.items():
        doomed_here = [f"-D{line[2:]}" for line in table.rules if line in gone]
        chains = {chain for t, chain, _, _ in CHAINS if t == name} & table.chains
        if chains and all(line in gone for line in table.rules if line.split()[1] in chains):
            doomed_here += [f"-D{line[2:]}" for line in table.rules
                            if line.split()[1] not in chains and line.split()[-1] in chains]
            doomed_here += [f"-X {chain}" for chain in sorted(chains)]
        if doomed_here:
            commands[name] = doomed_here
    return commands
