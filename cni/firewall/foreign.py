"""Accepting a container's traffic where another firewall closes the forward path.

An accept in pynet's own table cannot override a drop elsewhere (nftables runs every base chain at a
hook, and a drop in any is final), so the firewall plugin has to act in the chain that drops. This
module finds the nft base chains at hook forward that other firewalls own and that close the path
(policy drop, or a last rule that drops or rejects everything: firewalld's shape), and inserts at
their top, for each container address of the chain's family:

    ip saddr A accept                              what the container sends
    ip daddr A ct state established,related accept its replies
    ip daddr A ct status dnat accept               its published ports

each tagged with the comment "pynet:forward:<owner>", so DEL removes exactly those. Commands are
nft JSON, so chains whose names are nft keywords work too. iptables' own chains (iptables-nft's
`ip`/`ip6` `filter` `FORWARD`) are not touched here: iptables cannot parse native `ct` matches, so
the drivers answer a closed iptables FORWARD through iptables itself, as the reference plugin does.
"""

from __future__ import annotations

from ..spec.record import record

from ..spec import CNIError
from ..spec import errors
from ..spec.fastjson import loads
from . import libnft
from .terms import FORWARD

PYNET_TABLES = {("inet", "pynet"), ("bridge", "pynet")}
XTABLES = "filter", "FORWARD"  # iptables-nft's table and chain names
FAMILY_OF = {"ip": "4", "ip6": "6", "inet": "46"}


def tag(owner: str) -> str:
    return f"pynet:{FORWARD}:{owner}"


@record
class Chain:
    family: str
    table: str
    name: str
    closed: bool

    @property
    def ref(self) -> dict:
        return {"family": self.family, "table": self.table, "chain": self.name}


def _run(commands: list[dict] | str) -> str:
    """Run libnftables JSON commands (or a listing in nft's own syntax: no json package to write it)."""
    if isinstance(commands, str):
        return libnft.checked(commands, True)
    import json

    return libnft.checked(json.dumps({"nftables": commands}), True)


def _items(out: str, kind: str) -> list[dict]:
    return [item[kind] for item in loads(out or "{}").get("nftables", []) if kind in item]


def forward_chains() -> tuple[list[dict], list[Chain]]:
    """(every chain, as `nft -j list chains` gives it; the foreign base chains at hook forward of
    families ip, ip6 and inet, not iptables', with whether each closes the forward path)."""
    try:
        listing = _run("list chains")
    except CNIError as e:
        if e.code == errors.NOT_AVAILABLE:  # no nftables here: no other firewall's nft chain either
            return [], []
        raise
    chains = _items(listing, "chain")
    foreign = []
    for c in chains:
        if c.get("hook") != "forward" or c["family"] not in FAMILY_OF or is_xtables(c) \
                or (c["family"], c["table"]) in PYNET_TABLES:
            continue
        closed = c.get("policy") == "drop" or _ends_closed(rules(c["family"], c["table"], c["name"]))
        foreign.append(Chain(c["family"], c["table"], c["name"], closed))
    return chains, foreign


def is_xtables(chain: dict) -> bool:
    """Whether a chain is iptables-nft's FORWARD."""
    return chain["family"] in ("ip", "ip6") and (chain["table"], chain["name"]) == XTABLES


def rules(family: str, table: str, name: str) -> list[dict]:
    """The rules of one chain (nft JSON, with handles); [] if it is gone."""
    try:
        return _items(_run([{"list": {"chain": {"family": family, "table": table, "name": name}}}]), "rule")
    except CNIError:
        return []


def _ends_closed(chain_rules: list[dict]) -> bool:
    """Whether the last rule drops or rejects every packet (no match before its verdict)."""
    if not chain_rules:
        return False
    kinds = [next(iter(e)) for e in chain_rules[-1].get("expr", [])]
    return bool(kinds) and kinds[-1] in ("drop", "reject") and set(kinds[:-1]) <= {"counter", "log", "limit"}


def is_closed(chain: dict) -> bool:
    """Whether a chain from forward_chains()'s first list closes the forward path."""
    return chain.get("policy") == "drop" or _ends_closed(rules(chain["family"], chain["table"], chain["name"]))


def _accepts(chain: Chain, owner: str, address: str) -> list[dict]:
    ip = address.split("/")[0]
    proto = "ip6" if ":" in ip else "ip"

    def rule(field: str, *match: dict) -> dict:
        addr = {"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": field}}, "right": ip}}
        return {"insert": {"rule": {**chain.ref, "comment": tag(owner), "expr": [addr, *match, {"accept": None}]}}}

    def ct(key: str, right) -> dict:
        return {"match": {"op": "in", "left": {"ct": {"key": key}}, "right": right}}

    return [rule("saddr"), rule("daddr", ct("state", ["established", "related"])), rule("daddr", ct("status", "dnat"))]


def _of_family(chain: Chain, addresses: list[str]) -> list[str]:
    return [a for a in addresses if ("6" if ":" in a else "4") in FAMILY_OF[chain.family]]


def open_path(chains: list[Chain], owner: str, addresses: list[str]) -> None:
    """Insert `owner`'s accepts at the top of every closed chain, in one transaction."""
    commands = [c for chain in chains if chain.closed for a in _of_family(chain, addresses)
                for c in _accepts(chain, owner, a)]
    if commands:
        _run(commands)


def close_path(chains: list[Chain], owner: str) -> None:
    """Delete `owner`'s accepts from every foreign forward chain; a chain that changes meanwhile
    (its firewall reloading) is read again once."""
    for attempt in (1, 2):
        commands = [{"delete": {"rule": {**chain.ref, "handle": r["handle"]}}}
                    for chain in chains for r in rules(chain.family, chain.table, chain.name)
                    if r.get("comment") == tag(owner)]
        if not commands:
            return
        try:
            _run(commands)
            return
        except CNIError:
            if attempt == 2:
                raise


def missing(chains: list[Chain], owner: str, addresses: list[str]) -> list[str]:
    """"address in family table chain" for each closed chain that does not accept `owner`'s address."""
    found = []
    for chain in chains:
        if not chain.closed:
            continue
        have = {_source(r) for r in rules(chain.family, chain.table, chain.name) if r.get("comment") == tag(owner)}
        found += [f"{a.split('/')[0]} in {chain.family} {chain.table} {chain.name}"
                  for a in _of_family(chain, addresses) if a.split("/")[0] not in have]
    return found


def owners(chains: list[Chain], prefix: str) -> set[str]:
    """The owners whose tag starts with `prefix` that have accepts in `chains`."""
    return {r["comment"][len(tag("")):] for c in chains for r in rules(c.family, c.table, c.name)
            if r.get("comment", "").startswith(tag(prefix))}


def _source(rule: dict) -> str:
    for e in rule.get("expr", []):
        match = e.get("match", {})
        if match.get("left", {}).get("payload", {}).get("field") == "saddr":
            return str(match.get("right"))
    return ""
