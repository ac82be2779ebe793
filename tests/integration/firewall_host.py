"""A simulated host's whole firewall, to compare before and after, and the ways a host closes its
forward path (as Docker, firewalld or an admin's nft ruleset do)."""

from __future__ import annotations

import re
import shutil

from tests.netns.state import configuration

SAVES = ("iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save")


def ruleset(ns) -> str:
    """nft's ruleset and every iptables backend's save (iptables-nft's comments are not in nft's
    listing, legacy tables not at all), without what traffic or time changes (counters, dates).
    iptables' built-in chains that are empty and accept (iptables-nft leaves them once used, a legacy
    host always has them) are left out."""
    saves = [_configured(ns.run(tool, check=False).stdout) for tool in SAVES if shutil.which(tool)]
    return configuration(ns.run("nft", "list", "ruleset").stdout) + "".join(saves)


def _configured(save: str) -> str:
    tables, table = [], []
    for line in save.splitlines():
        if line.startswith("*"):
            table = [line]
        elif line == "COMMIT":
            if len(table) > 1:
                tables.append("\n".join(table) + "\n")
        elif line.startswith("-") or (line.startswith(":") and not re.match(r":\S+ ACCEPT ", line)):
            table.append(re.sub(r" \[\d+:\d+\]$", "", line))
    return "".join(tables)


# ways to close the forward path: what each runs in the host
CLOSERS = {
    "iptables-drop": [["iptables", "-P", "FORWARD", "DROP"]],  # Docker (iptables-nft)
    "legacy-drop": [["iptables-legacy", "-P", "FORWARD", "DROP"]],  # Docker on an iptables-legacy host
    "nft-drop": [["nft", "add table inet hostfw"],  # an admin's nft ruleset
                 ["nft", "add chain inet hostfw fw { type filter hook forward priority 0; policy drop; }"]],
    "nft-reject": [["nft", "add table inet hostfw"],  # firewalld's shape: policy accept, a final reject
                   ["nft", "add chain inet hostfw fw { type filter hook forward priority 10; policy accept; }"],
                   ["nft", "add rule inet hostfw fw ct state established,related accept"],
                   ["nft", "add rule inet hostfw fw reject with icmpx admin-prohibited"]],
}


def close_forwarding(ns, how: str) -> None:
    for argv in CLOSERS[how]:
        ns.run(*argv)
