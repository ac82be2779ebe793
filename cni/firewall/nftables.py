"""nftables driver: pynet's own `inet pynet` table, one atomic `nft -f` transaction per change.

Masquerading uses sets, so the rule count does not grow with containers:

    table inet pynet {
        set masq4 { type ipv4_addr }                  container addresses (comment: owner tag)
        set nets4 { type ipv4_addr; flags interval }  pynet network subnets (not masqueraded)
        chain postrouting { type nat hook postrouting priority srcnat
            ip saddr @masq4 ip daddr != @nets4 ip daddr != 224.0.0.0/4 masquerade
            (and the same for IPv6) }
    }
"""

from __future__ import annotations

import json
import shutil
import subprocess

from ..spec import CNIError
from ..spec import errors

TABLE = "inet pynet"

BASE = f"""
add table {TABLE}
add set {TABLE} masq4 {{ type ipv4_addr; }}
add set {TABLE} masq6 {{ type ipv6_addr; }}
add set {TABLE} nets4 {{ type ipv4_addr; flags interval; }}
add set {TABLE} nets6 {{ type ipv6_addr; flags interval; }}
add chain {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
flush chain {TABLE} postrouting
add rule {TABLE} postrouting ip saddr @masq4 ip daddr != @nets4 ip daddr != 224.0.0.0/4 masquerade
add rule {TABLE} postrouting ip6 saddr @masq6 ip6 daddr != @nets6 ip6 daddr != ff00::/8 masquerade
"""


def _family(cidr: str) -> str:
    return "6" if ":" in cidr else "4"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "").replace('"', "") + '"'


class Nftables:
    name = "nftables"

    def __init__(self) -> None:
        self.nft = shutil.which("nft") or "/usr/sbin/nft"

    def _run(self, script: str = "", *argv: str) -> str:
        try:
            done = subprocess.run([self.nft, *argv] if argv else [self.nft, "-f", "-"], input=script,
                                  capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            raise CNIError(errors.NOT_AVAILABLE, "nftables is not installed",
                           "install the nftables package, or set \"firewallBackend\": \"none\"") from None
        if done.returncode != 0:
            raise CNIError(errors.KERNEL, "nftables transaction failed", done.stderr.strip()[:500])
        return done.stdout

    def _elements(self) -> dict[str, list[tuple[str, str]]] | None:
        """set name -> [(element, comment)] of pynet's sets; None if the table does not exist."""
        try:
            listing = json.loads(self._run("", "-j", "list", "table", *TABLE.split()) or "{}")
        except CNIError:
            return None
        found: dict[str, list[tuple[str, str]]] = {}
        for item in listing.get("nftables", []):
            entry = item.get("set")
            if not entry:
                continue
            values = found.setdefault(entry["name"], [])
            for element in entry.get("elem", []):
                inner = element.get("elem", {}) if isinstance(element, dict) else {}
                value = inner.get("val", element)
                if isinstance(value, dict) and "prefix" in value:
                    value = f"{value['prefix']['addr']}/{value['prefix']['len']}"
                values.append((str(value), inner.get("comment", "")))
        return found

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]):
        """Masquerade traffic from `addresses` leaving for anywhere but pynet's `subnets`.

        Returns a function that undoes exactly this (for the undo log): the whole table if this
        created it, else the elements it added."""
        present = self._elements()
        lines = [BASE]
        new_nets = [cidr for cidr in subnets
                    if cidr not in {v for v, _ in (present or {}).get(f"nets{_family(cidr)}", [])}]
        for cidr in new_nets:
            lines.append(f"add element {TABLE} nets{_family(cidr)} {{ {cidr} comment {_quote(network)} }}")
        for address in addresses:
            lines.append(f"add element {TABLE} masq{_family(address)} "
                         f"{{ {address.split('/')[0]} comment {_quote(owner)} }}")
        self._run("\n".join(lines) + "\n")

        def undo() -> None:
            if present is None:
                self._run(f"delete table {TABLE}\n")
                return
            self.remove(owner)
            if new_nets:
                self._run("".join(f"delete element {TABLE} nets{_family(c)} {{ {c} }}\n" for c in new_nets))
        return undo

    def remove(self, owner: str) -> None:
        """Remove every element tagged with `owner` (nothing if there is none)."""
        present = self._elements() or {}
        lines = [f"delete element {TABLE} {name} {{ {value} }}"
                 for name in ("masq4", "masq6") for value, comment in present.get(name, []) if comment == owner]
        if lines:
            self._run("\n".join(lines) + "\n")

    def missing(self, owner: str, addresses: list[str]) -> list[str]:
        """Which of `addresses` are not masqueraded for `owner`."""
        present = self._elements() or {}
        have = {value for name in ("masq4", "masq6") for value, comment in present.get(name, []) if comment == owner}
        return [a for a in addresses if a.split("/")[0] not in have]
