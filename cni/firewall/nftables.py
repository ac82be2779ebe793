"""nftables driver: pynet's own `inet pynet` table, one atomic nft transaction per change (libnftables).

Rules never grow with containers or ports: they match sets and maps whose elements carry the
owner tag (network/container id/ifname) as their comment.

    masq4/6      container addresses to masquerade      nets4/6  pynet subnets (not masqueraded)
    pm4/6        proto . host port -> container address . port            (any host address)
    pm4ip/6ip    host address . proto . host port -> container address . port
    hairpin4/6   container address . proto . port reached through a published port
    fwd4/6       container addresses whose forwarded traffic is accepted (the firewall plugin)
    iso, iso_self  bridges of isolated networks: no forwarding between two of them
    (table bridge pynet) noicc  host veths of containers on `icc: false` networks: no IP between them

A container's ADD and DEL never list a set that grows with the containers: the table's shape and
single elements are looked up by key (cni.firewall.nfnl), so their cost is the same with 10
containers on the host or 1,000.
"""

from __future__ import annotations

import json
import re

from ..spec import CNIError
from ..spec import errors
from . import FORWARD, ICC, MASQUERADE, PORTS, libnft, nfnl

TABLE = "inet pynet"
SETS = {MASQUERADE: ("masq4", "masq6"), PORTS: ("pm4", "pm6", "pm4ip", "pm6ip", "hairpin4", "hairpin6"),
        FORWARD: ("fwd4", "fwd6"), ICC: ("noicc",)}
BRIDGE_TABLE = "bridge pynet"
NETWORK_SETS = ("nets4", "nets6", "iso", "iso_self")  # elements owned by a network, not a container
FORWARD_SETS = ("iso", "iso_self", "fwd4", "fwd6")  # what the forward chain is there for

BASE = f"""
add table {TABLE}
add set {TABLE} masq4 {{ type ipv4_addr; }}
add set {TABLE} masq6 {{ type ipv6_addr; }}
add set {TABLE} nets4 {{ type ipv4_addr; flags interval; }}
add set {TABLE} nets6 {{ type ipv6_addr; flags interval; }}
add map {TABLE} pm4 {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add map {TABLE} pm6 {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}
add map {TABLE} pm4ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
add map {TABLE} pm6ip {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }}
add set {TABLE} hairpin4 {{ type ipv4_addr . inet_proto . inet_service; }}
add set {TABLE} hairpin6 {{ type ipv6_addr . inet_proto . inet_service; }}
add set {TABLE} fwd4 {{ type ipv4_addr; }}
add set {TABLE} fwd6 {{ type ipv6_addr; }}
add set {TABLE} iso {{ type ifname; }}
add set {TABLE} iso_self {{ type ifname . ifname; }}
add chain {TABLE} portmap
add chain {TABLE} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain {TABLE} output {{ type nat hook output priority -100; policy accept; }}
add chain {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
flush chain {TABLE} portmap
flush chain {TABLE} prerouting
flush chain {TABLE} output
flush chain {TABLE} postrouting
add rule {TABLE} prerouting fib daddr type local jump portmap
add rule {TABLE} output fib daddr type local jump portmap
add rule {TABLE} portmap dnat ip to ip daddr . meta l4proto . th dport map @pm4ip
add rule {TABLE} portmap dnat ip to meta l4proto . th dport map @pm4
add rule {TABLE} portmap dnat ip6 to ip6 daddr . meta l4proto . th dport map @pm6ip
add rule {TABLE} portmap dnat ip6 to meta l4proto . th dport map @pm6
add rule {TABLE} postrouting ip saddr @masq4 ip daddr != @nets4 ip daddr != 224.0.0.0/4 masquerade
add rule {TABLE} postrouting ip6 saddr @masq6 ip6 daddr != @nets6 ip6 daddr != ff00::/8 masquerade
add rule {TABLE} postrouting ct status dnat ip daddr . meta l4proto . th dport @hairpin4 ip saddr 127.0.0.0/8 masquerade
add rule {TABLE} postrouting ct status dnat ip daddr . meta l4proto . th dport @hairpin4 ip saddr @nets4 masquerade
add rule {TABLE} postrouting ct status dnat ip6 daddr . meta l4proto . th dport @hairpin6 ip6 saddr ::1 masquerade
add rule {TABLE} postrouting ct status dnat ip6 daddr . meta l4proto . th dport @hairpin6 ip6 saddr @nets6 masquerade
"""

# The forward chain is added only with the first isolated network or firewall-plugin element: with
# br_netfilter's hook on, every bridged packet would go through it (~2 % of container throughput).
FORWARD_BASE = f"""
add chain {TABLE} forward {{ type filter hook forward priority filter; policy accept; }}
flush chain {TABLE} forward
add rule {TABLE} forward iifname @iso oifname @iso iifname . oifname != @iso_self drop
add rule {TABLE} forward ct state established,related accept
add rule {TABLE} forward ip saddr @fwd4 accept
add rule {TABLE} forward ip daddr @fwd4 accept
add rule {TABLE} forward ip6 saddr @fwd6 accept
add rule {TABLE} forward ip6 daddr @fwd6 accept
"""

BRIDGE_BASE = f"""
add table {BRIDGE_TABLE}
add set {BRIDGE_TABLE} noicc {{ type ifname; }}
add chain {BRIDGE_TABLE} forward {{ type filter hook forward priority filter; policy accept; }}
flush chain {BRIDGE_TABLE} forward
add rule {BRIDGE_TABLE} forward iifname @noicc oifname @noicc ether type {{ ip, ip6 }} drop
"""


def _base_shape(base: str) -> tuple[int, int, int]:
    words = [line.split()[1] for line in base.splitlines() if line.startswith("add ")]
    return words.count("set") + words.count("map"), words.count("chain"), words.count("rule")


_BASE_SHAPE = {TABLE: _base_shape(BASE), BRIDGE_TABLE: _base_shape(BRIDGE_BASE)}
_FORWARD_SHAPE = _base_shape(BASE + FORWARD_BASE)


# set or map name -> ("set" or "map", the types of its key), as the bases declare them
_DECLARED = {name: (what, tuple(t.strip() for t in key.split(" . "))) for what, name, key in
             re.findall(r"add (set|map) \S+ \S+ (\w+) \{ type ([^:;]+)", BASE + BRIDGE_BASE)}


def _table_of(kind: str) -> str:
    return BRIDGE_TABLE if kind == ICC else TABLE


def _family(cidr: str) -> str:
    return "6" if ":" in cidr else "4"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "").replace('"', "") + '"'


def _key(value) -> str:
    """An element key from `nft -j` as nft's own syntax ("tcp . 8080", "10.0.0.0/24")."""
    if isinstance(value, dict) and "concat" in value:
        return " . ".join(_key(v) for v in value["concat"])
    if isinstance(value, dict) and "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    return str(value)


def _elements_of(listing: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """set or map name -> [(key, comment)] of the sets in a `nft -j` listing."""
    found: dict[str, list[tuple[str, str]]] = {}
    for item in listing:
        entry = item.get("set") or item.get("map")
        if not entry:
            continue
        values = found.setdefault(entry["name"], [])
        for element in entry.get("elem", []):
            if isinstance(element, list):  # a map element: [key, value]
                element = element[0]
            inner = element.get("elem") if isinstance(element, dict) and "elem" in element else None
            key = inner["val"] if inner else element
            values.append((_key(key), inner.get("comment", "") if inner else ""))
    return found


def _masquerade_elements(addresses: list[str]) -> list[tuple[str, str]]:
    return [(f"masq{_family(a)}", a.split("/")[0]) for a in addresses]


def _forward_elements(addresses: list[str]) -> list[tuple[str, str]]:
    return [(f"fwd{_family(a)}", a.split("/")[0]) for a in addresses]


def _port_elements(mappings: list[dict]) -> list[tuple[str, str, str]]:
    """(set or map, key, map value or "") of each published port and its hairpin element."""
    found = []
    for m in mappings:
        family = _family(m["address"])
        key = f"{m['protocol']} . {m['host_port']}"
        target = f"{m['address']} . {m['container_port']}"
        if m["host_ip"]:
            found.append((f"pm{family}ip", f"{m['host_ip']} . {key}", target))
        else:
            found.append((f"pm{family}", key, target))
        if m["snat"]:
            found.append((f"hairpin{family}", f"{m['address']} . {m['protocol']} . {m['container_port']}", ""))
    return found


_EXPECTED = {MASQUERADE: _masquerade_elements, FORWARD: _forward_elements,
             PORTS: lambda mappings: [(name, key) for name, key, _ in _port_elements(mappings)],
             ICC: lambda ports: [("noicc", port) for port in ports]}


class Nftables:
    name = "nftables"

    def _run(self, script: str, json_output: bool = False) -> str:
        try:
            status, out, err = libnft.run(script, json_output)
        except FileNotFoundError:
            raise CNIError(errors.NOT_AVAILABLE, "nftables is not installed",
                           "install the nftables package, or set \"firewallBackend\": \"none\"") from None
        if status != 0:
            raise CNIError(errors.KERNEL, "nftables transaction failed", err.strip()[:500])
        return out

    def _listing(self, table: str) -> list[dict] | None:
        """The table as `nft -j list table` gives it; None if it does not exist."""
        try:
            return json.loads(self._run(f"list table {table}", json_output=True) or "{}").get("nftables", [])
        except CNIError:
            return None

    def _elements(self, table: str = TABLE, listing: list[dict] | None = None) -> dict[str, list[tuple[str, str]]] | None:
        """set or map name -> [(key, comment)] of the whole table; None if the table does not exist."""
        listing = self._listing(table) if listing is None else listing
        return None if listing is None else _elements_of(listing)

    def _set_elements(self, table: str, names) -> dict[str, list[tuple[str, str]]]:
        """The elements of the sets `names` only, as _elements gives them (a missing set: none)."""
        found: dict[str, list[tuple[str, str]]] = {}
        for name in names:
            status, out, _ = libnft.run(f"list {_DECLARED[name][0]} {table} {name}", json_output=True)
            if status == 0:
                found.update(_elements_of(json.loads(out or "{}").get("nftables", [])))
        return found

    def _comment(self, table: str, name: str, key: str) -> str | None:
        """The comment of element `key` of set `name` (None if it is not there, or is not a key of
        that set): one kernel request."""
        try:
            return nfnl.comment(table, name, nfnl.encode_key(_DECLARED[name][1], key))
        except ValueError:
            return None
        except OSError as e:
            raise CNIError(errors.KERNEL, "cannot read pynet's nftables sets", f"{table} {name}: {e.strerror}") from None

    def _shape(self, table: str) -> nfnl.Shape | None:
        try:
            return nfnl.shape(table)
        except OSError as e:
            raise CNIError(errors.KERNEL, "cannot read pynet's nftables table", f"{table}: {e.strerror}") from None

    def _apply(self, lines: list[str], table: str = TABLE, forward: bool = False) -> bool:
        """Run `lines` in one transaction, with the table's base (sets, chains, rules) first unless
        the table is there and intact (re-asserting the base costs ~10 ms), and the forward chain
        too when `forward` asks for it or the table has it; True if the table existed."""
        shape = self._shape(table)
        base = BASE if table == TABLE else BRIDGE_BASE
        has_forward = table == TABLE and shape is not None and "forward" in shape.chains
        intact = shape is not None and shape.counts == (_FORWARD_SHAPE if has_forward else _BASE_SHAPE[table])
        parts = [] if intact else [base]
        if table == TABLE and (forward or has_forward) and not (intact and has_forward):
            parts.append(FORWARD_BASE)
        script = [*parts, *lines]
        if script:
            self._run("\n".join(script) + "\n")
        return shape is not None

    def _delete(self, doomed: list[tuple[str, str]], table: str = TABLE) -> None:
        """Delete the (set, key) elements `doomed` in one transaction, and the forward chain with
        them when they leave none of the elements it is there for."""
        lines = [f"delete element {table} {name} {{ {key} }}" for name, key in doomed]
        if table == TABLE and any(name in FORWARD_SETS for name, _ in doomed) and not self._forward_kept(doomed):
            lines.append(f"delete chain {TABLE} forward")
        if lines:
            self._run("\n".join(lines) + "\n")

    def _forward_kept(self, doomed: list[tuple[str, str]]) -> bool:
        """Is there no forward chain, or would it still have work once `doomed` is gone?"""
        shape = self._shape(TABLE)
        if shape is None or "forward" not in shape.chains:
            return True
        try:
            return any(nfnl.has_other_elements(TABLE, name, {nfnl.encode_key(_DECLARED[name][1], key)
                                                             for set_name, key in doomed if set_name == name})
                       for name in FORWARD_SETS)
        except (ValueError, OSError):
            return True  # cannot tell: the chain stays (it costs a little, removing it could cost much)

    def _undo_elements(self, existed: bool, owner: str, kind: str, expected, table: str = TABLE):
        """The undo of adding `owner`'s elements of `kind`: the table itself if this created it."""
        def undo() -> None:
            if not existed:
                self._run(f"delete table {table}\n")
            else:
                self.remove(owner, kind, expected)
        return undo

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]):
        """Masquerade traffic from `addresses` leaving for anywhere but pynet's `subnets`.

        Returns a function that undoes exactly this (for the undo log): the whole table if this
        created it, else the elements it added."""
        nets = self._set_elements(TABLE, sorted({f"nets{_family(c)}" for c in subnets}))  # one per network
        new_nets = [c for c in subnets if c not in {k for k, _ in nets.get(f"nets{_family(c)}", [])}]
        lines = [f"add element {TABLE} nets{_family(c)} {{ {c} comment {_quote(network)} }}" for c in new_nets]
        lines += [f"add element {TABLE} {name} {{ {key} comment {_quote(owner)} }}"
                  for name, key in _masquerade_elements(addresses)]
        existed = self._apply(lines)

        def undo() -> None:
            if not existed:
                self._run(f"delete table {TABLE}\n")
                return
            self.remove(owner, MASQUERADE, addresses)
            if new_nets:
                self._run("".join(f"delete element {TABLE} nets{_family(c)} {{ {c} }}\n" for c in new_nets))
        return undo

    def add_port_mappings(self, owner: str, mappings: list[dict]):
        """Publish ports: each mapping has protocol, host_ip ("" = any), host_port, address (the
        container's), container_port, snat. A host port that is already published fails the whole
        change (code 106) and changes nothing. Returns the undo of this change."""
        lines = []
        for name, key, target in _port_elements(mappings):
            if target:  # a map: the host port, taken by one container only
                lines.append(f"create element {TABLE} {name} {{ {key} comment {_quote(owner)} : {target} }}")
            else:
                lines.append(f"add element {TABLE} {name} {{ {key} comment {_quote(owner)} }}")
        try:
            existed = self._apply(lines)
        except CNIError as e:
            if "File exists" in e.details:
                taken = [f"{m['host_ip'] or '*'}:{m['host_port']}/{m['protocol']}" for m in mappings]
                raise CNIError(errors.PORT_TAKEN, "host port already published",
                               f"one of {', '.join(taken)} is published by another container") from None
            raise
        return self._undo_elements(existed, owner, PORTS, mappings)

    def allow_forwarding(self, owner: str, addresses: list[str]):
        """Accept forwarded traffic from and to `addresses`; returns the undo of this change."""
        lines = [f"add element {TABLE} {name} {{ {key} comment {_quote(owner)} }}"
                 for name, key in _forward_elements(addresses)]
        existed = self._apply(lines, forward=True)
        return self._undo_elements(existed, owner, FORWARD, addresses)

    def isolate_bridge(self, network: str, bridge: str, peers: tuple[str, ...] = ()):
        """No forwarding between `bridge` (with its `peers`: links of the same network, such as an
        overlay's VXLAN device) and other isolated bridges; returns the undo."""
        if self._comment(TABLE, "iso", bridge) is not None:
            return lambda: None
        group = (bridge, *peers)
        elements = [("iso", m) for m in group] + [("iso_self", f"{a} . {b}") for a in group for b in group]
        existed = self._apply([f"add element {TABLE} {name} {{ {key} comment {_quote(network)} }}"
                               for name, key in elements], forward=True)

        def undo() -> None:
            if not existed:
                self._run(f"delete table {TABLE}\n")
            else:
                self._delete(elements)
        return undo

    def remove_isolation(self, bridge: str, peers: tuple[str, ...] = ()) -> None:
        """Undo isolate_bridge once the bridge is gone (nothing if it was not isolated)."""
        present = self._set_elements(TABLE, ("iso", "iso_self"))  # a few per isolated network
        group = (bridge, *peers)
        doomed = [("iso", key) for key, _ in present.get("iso", []) if key in group]
        doomed += [("iso_self", key) for key, _ in present.get("iso_self", []) if key.split(" . ")[0] in group]
        self._delete(doomed)

    def deny_icc(self, owner: str, port: str):
        """No IP traffic between `port` and other such bridge ports (`icc: false`); returns the undo."""
        existed = self._apply([f"add element {BRIDGE_TABLE} noicc {{ {port} comment {_quote(owner)} }}"],
                              BRIDGE_TABLE)
        return self._undo_elements(existed, owner, ICC, [port], BRIDGE_TABLE)

    def remove(self, owner: str, kind: str, expected=None) -> None:
        """Remove `owner`'s elements of one kind (MASQUERADE, PORTS, ...); nothing if there are none.

        `expected` is what the ADD was given, if the caller knows it (the addresses for MASQUERADE
        and FORWARD, the mappings for PORTS, the host ports for ICC): those elements are looked up
        by key, and the kind's sets are listed only when one of them is not the owner's."""
        table = _table_of(kind)
        if expected:
            candidates = list(dict.fromkeys(_EXPECTED[kind](expected)))
            if all(self._comment(table, name, key) == owner for name, key in candidates):
                self._delete(candidates, table)
                return
        present = self._set_elements(table, SETS[kind])
        self._delete([(name, key) for name in SETS[kind] for key, comment in present.get(name, [])
                      if comment == owner], table)

    def forget_network(self, network: str, bridge: str) -> None:
        """Remove what a deleted network left (its subnets, its bridge's isolation); a table that
        is then empty goes too, so the host is back as it was."""
        for table in (TABLE, BRIDGE_TABLE):
            present = self._elements(table)
            if present is None:
                continue
            mine = [(name, key) for name in NETWORK_SETS for key, comment in present.get(name, [])
                    if comment == network]
            others = sum(len(items) for items in present.values()) - len(mine)
            if not others:
                self._run(f"delete table {table}\n")
            else:
                self._delete(mine, table)

    def owned(self, owner: str, kind: str) -> set[str]:
        """`owner`'s elements of one kind, as "set: key"."""
        present = self._set_elements(_table_of(kind), SETS[kind])
        return {f"{name}: {key}" for name in SETS[kind] for key, comment in present.get(name, []) if comment == owner}

    def missing(self, owner: str, addresses: list[str]) -> list[str]:
        """Which of `addresses` are not masqueraded for `owner`."""
        return [a for a, (name, key) in zip(addresses, _masquerade_elements(addresses))
                if self._comment(TABLE, name, key) != owner]
