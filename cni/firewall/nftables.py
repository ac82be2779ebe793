"""nftables driver: pynet's own `inet pynet` table, one atomic nft transaction per change (libnftables).

Rules never grow with containers or ports: they match sets and maps whose elements carry the
owner tag (network/container id/ifname) as their comment.

    masq4/6      container addresses to masquerade      nets4/6  pynet subnets (not masqueraded)
    pm4/6        proto . host port -> container address . port            (any host address)
    pm4ip/6ip    host address . proto . host port -> container address . port
    hairpin4/6   container address . proto . port reached through a published port
    iso, iso_self  bridges of isolated networks: no forwarding between two of them
    attached     one element per attachment of an isolated network (it may have no other element)
    (table bridge pynet) noicc  host veths of containers on `icc: false` networks: no IP between them

Elements of a container carry its owner tag as their comment; those of a network (nets, iso) its
label. A subnet goes when no masqueraded address is left in it, an isolation when no element of
its network's owners is left: decided under the host lock, in the same transaction as the removal
that leaves none. A table left with no element goes too.

A container's ADD and DEL never list a set that grows with the containers (libnftables fetches every
element of a table for any listing: 60 ms at 3,000): the table's shape and single elements are
looked up by key, and whether an element that decides a network's fate is left, by a dump that
stops at the first one (cni.firewall.nfnl). Lookups by key need what the ADD was given (prevResult's
addresses, the port mappings); without it, DEL lists the table as GC does.
The firewall plugin's accepts are not here: they must sit where the host drops (`foreign`).
"""

from __future__ import annotations

from ..spec import CNIError
from ..spec import errors
from . import foreign, libnft, nfnl
from .terms import FORWARD, ICC, MASQUERADE, PORTS, host_port, mapping_text, network_label, network_of
from ..spec.fastjson import loads
from .lock import host_lock

TABLE = "inet pynet"
SETS = {MASQUERADE: ("masq4", "masq6"), PORTS: ("pm4", "pm6", "pm4ip", "pm6ip", "hairpin4", "hairpin6"),
        ICC: ("noicc",)}
BRIDGE_TABLE = "bridge pynet"
ATTACHED = "attached"
NETWORK_SETS = ("nets4", "nets6", "iso", "iso_self")  # elements owned by a network, not a container
FORWARD_SETS = ("iso", "iso_self")  # what the forward chain is there for
NAME_SETS = ("iso", "iso_self", "noicc", ATTACHED)  # keys are interface names (quoted)

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
add set {TABLE} iso {{ type ifname; }}
add set {TABLE} iso_self {{ type ifname . ifname; }}
add set {TABLE} {ATTACHED} {{ type ifname; }}
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

# The forward chain is added only with the first isolated network: with br_netfilter's hook on,
# every bridged packet would go through it (~2 % of container throughput).
FORWARD_BASE = f"""
add chain {TABLE} forward {{ type filter hook forward priority filter; policy accept; }}
flush chain {TABLE} forward
add rule {TABLE} forward iifname @iso oifname @iso iifname . oifname != @iso_self drop
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
def _declared(bases: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    found = {}
    for line in bases.splitlines():
        if line.startswith(("add set ", "add map ")):  # add set|map FAMILY TABLE NAME { type KEY[ : VALUE]; ...
            what, name = line.split()[1], line.split()[4]
            key = line.split("{ type ", 1)[1].split(";")[0].split(":")[0]
            found[name] = (what, tuple(t.strip() for t in key.split(" . ")))
    return found


_DECLARED = _declared(BASE + BRIDGE_BASE)
_CONTAINER_SETS = {TABLE: [n for n in _DECLARED if n not in NETWORK_SETS and n != "noicc"], BRIDGE_TABLE: ["noicc"]}


def _has_forward(listing: list[dict]) -> bool:
    return any(item.get("chain", {}).get("name") == "forward" for item in listing)


def _table_of(kind: str) -> str:
    return BRIDGE_TABLE if kind == ICC else TABLE


def _family(cidr: str) -> str:
    return "6" if ":" in cidr else "4"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "").replace('"', "") + '"'


def _literal(name: str, key: str) -> str:
    """An element key as nft syntax: interface names quoted (one may be called like a keyword)."""
    return " . ".join(_quote(part) for part in key.split(" . ")) if name in NAME_SETS else key


def _attachment(owner: str) -> str:
    """The `attached` key of an owner: 15 characters of its digest (an ifname holds 15)."""
    import base64
    import hashlib

    return base64.b32encode(hashlib.sha256(owner.encode()).digest()).decode()[:15].lower()


def _tidy(table: str, present: dict[str, list[tuple[str, str]]], has_forward: bool, doomed) -> list[str]:
    """The commands that delete the elements for which doomed(set, comment) is true, the subnets
    (`nets`) no masqueraded address left is in, the isolation of every network none of whose owners
    has an element left, and the forward chain once nothing needs it; or, when that leaves no
    element at all, the table itself."""
    items = [(name, key, comment) for name, elements in present.items() for key, comment in elements]
    gone = {(name, key) for name, key, comment in items if name not in NETWORK_SETS and doomed(name, comment)}
    left = [(name, key, comment) for name, key, comment in items if name not in NETWORK_SETS
            and (name, key) not in gone]
    members = {network_of(comment) for _, _, comment in left}
    masqueraded = [key for name, key, _ in left if name in SETS[MASQUERADE]]
    gone |= {(name, key) for name, key, comment in items
             if name in ("nets4", "nets6") and not _holds_any(key, masqueraded)
             or name in FORWARD_SETS and comment not in members}
    if len(gone) == len(items):
        return [f"delete table {table}"]
    lines = [f"delete element {table} {name} {{ {_literal(name, key)} }}" for name, key, _ in items
             if (name, key) in gone]
    if has_forward and all((name, key) in gone for name, key, _ in items if name in FORWARD_SETS):
        lines.append(f"delete chain {table} forward")
    return lines


def _masquerade_elements(addresses: list[str]) -> list[tuple[str, str]]:
    return [(f"masq{_family(a)}", a.split("/")[0]) for a in addresses]


def _published(m: dict) -> tuple[str, str, str]:
    """(map, key, value) of a published port: pm4/pm6 for any host address, pm4ip/pm6ip for one."""
    family, key, target = _family(m["address"]), f"{m['protocol']} . {m['host_port']}", \
        f"{m['address']} . {m['container_port']}"
    return (f"pm{family}ip", f"{m['host_ip']} . {key}", target) if m["host_ip"] else (f"pm{family}", key, target)


def _port_elements(mappings: list[dict]) -> list[tuple[str, str, str]]:
    """(set or map, key, map value or "") of each published port and its hairpin element."""
    found = []
    for m in mappings:
        found.append(_published(m))
        if m["snat"]:
            found.append((f"hairpin{_family(m['address'])}", f"{m['address']} . {m['protocol']} . {m['container_port']}", ""))
    return found


def _in(subnet: str):
    """A test of encoded set keys: does the address lie in `subnet`?"""
    import ipaddress

    network = ipaddress.ip_network(subnet, strict=False)
    first, size = int(network.network_address), network.num_addresses
    length = 4 if network.version == 4 else 16
    return lambda key: len(key) == length and 0 <= int.from_bytes(key, "big") - first < size


def _holds_any(subnet: str, addresses: list[str]) -> bool:
    """Whether one of `addresses` is in `subnet` (a pynet network's: not masqueraded between them)."""
    if not addresses:
        return False
    import ipaddress  # only when a subnet's fate is decided

    network = ipaddress.ip_network(subnet, strict=False)
    return any(ipaddress.ip_address(a) in network for a in addresses if (":" in a) == (":" in subnet))


def _key(value) -> str:
    """An element key from `nft -j` as nft's own syntax ("tcp . 8080", "10.0.0.0/24")."""
    if isinstance(value, dict) and "concat" in value:
        return " . ".join(_key(v) for v in value["concat"])
    if isinstance(value, dict) and "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    return str(value)


class Nftables:
    name = "nftables"

    def _run(self, script: str, json_output: bool = False) -> str:
        return libnft.checked(script, json_output)

    def _listing(self, table: str) -> list[dict] | None:
        """The table as `nft -j list table` gives it; None if it does not exist. A listing that is
        not JSON (seen once, with the table changing under it) is read again, then an error."""
        for attempt in (1, 2):
            try:
                out = self._run(f"list table {table}", json_output=True)
            except CNIError:
                return None
            try:
                return loads(out or "{}").get("nftables", [])
            except ValueError:
                if attempt == 2:
                    raise CNIError(errors.KERNEL, f"nftables listed table {table} unreadably", out[:300]) from None
        return None

    def _elements(self, table: str = TABLE,
                  listing: list[dict] | None = None) -> dict[str, list[tuple[str, str]]] | None:
        """set or map name -> [(key, comment)]; None if the table does not exist."""
        listing = self._listing(table) if listing is None else listing
        if listing is None:
            return None
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

    def _set_elements(self, table: str, names) -> dict[str, list[tuple[str, str]]]:
        """The elements of the sets `names` only (those that do not grow with containers), as
        _elements gives them; a missing set has none."""
        found: dict[str, list[tuple[str, str]]] = {}
        for name in names:
            try:
                status, out, _ = libnft.run(f"list {_DECLARED[name][0]} {table} {name}", json_output=True)
            except libnft.Unavailable:  # no nf_tables: no set
                break
            if status == 0:
                found.update(self._elements(table, loads(out or "{}").get("nftables", [])) or {})
        return found

    def _comment(self, table: str, name: str, key: str) -> str | None:
        """The comment of element `key` of set `name`, None if there is none (or `key` is not one of
        that set's keys): one kernel request."""
        try:
            return nfnl.comment(table, name, nfnl.encode_key(_DECLARED[name][1], key))
        except (ValueError, libnft.Unavailable):
            return None
        except OSError as e:
            raise CNIError(errors.KERNEL, "cannot read pynet's nftables sets", f"{table} {name}: {e.strerror}") from None

    def _any(self, table: str, names, wanted) -> bool:
        """Is there an element in one of the sets `names` for which wanted(encoded key, comment) is
        true? (A dump that stops at the first.)"""
        try:
            return any(nfnl.find(table, name, wanted) for name in names)
        except libnft.Unavailable:
            return False
        except OSError as e:
            raise CNIError(errors.KERNEL, "cannot read pynet's nftables sets", f"{table}: {e.strerror}") from None

    def _table_shape(self, table: str) -> nfnl.Shape | None:
        try:
            return nfnl.shape(table)
        except libnft.Unavailable:
            return None
        except OSError as e:
            raise CNIError(errors.KERNEL, "cannot read pynet's nftables table", f"{table}: {e.strerror}") from None

    def _apply(self, lines: list[str], table: str = TABLE, forward: bool = False) -> None:
        """Run `lines` in one transaction, with the table's base (sets, chains, rules) first unless
        the table is there and intact (re-asserting the base costs ~10 ms), and the forward chain
        too when `forward` asks for it or the table has it."""
        base = BASE if table == TABLE else BRIDGE_BASE
        found = self._table_shape(table)
        shape = found.counts if found is not None else None
        has_forward = table == TABLE and found is not None and "forward" in found.chains
        intact = shape == (_FORWARD_SHAPE if has_forward else _BASE_SHAPE[table])
        parts = [] if intact else [base]
        if table == TABLE and (forward or has_forward) and not (intact and has_forward):
            parts.append(FORWARD_BASE)
        script = [*parts, *lines]
        if script:
            self._run("\n".join(script) + "\n")

    def _register(self, owner: str) -> list[str]:
        """The line that records `owner` as an attachment of its network ([] if it is recorded)."""
        key = _attachment(owner)
        if self._comment(TABLE, ATTACHED, key) is not None:
            return []
        return [f"add element {TABLE} {ATTACHED} {{ {_quote(key)} comment {_quote(owner)} }}"]

    def _retract(self, doomed, tables=(TABLE,)) -> None:
        """Under the host lock: delete the elements for which doomed(set, comment) is true, then
        whatever that leaves without a reason to be (see _tidy)."""
        with host_lock():
            for table in tables:
                listing = self._listing(table)
                if listing is None:
                    continue
                present = self._elements(table, listing) or {}
                lines = _tidy(table, present, table == TABLE and _has_forward(listing), doomed)
                if lines:
                    self._run("\n".join(lines) + "\n")

    def _retract_known(self, owner: str, sure: list[tuple[str, str, str]], maybe=()) -> bool:
        """_retract for `owner`'s elements known by (table, set, key), under the host lock: `sure`
        must all be the owner's (else False: nothing is done, the caller retracts by listing), and
        `maybe` go if they are. Then, as _tidy decides it, what that leaves without a reason to be,
        found by key or by dumps that stop at the first element that answers."""
        with host_lock():
            doomed = [e for e in sure if self._comment(*e) == owner]
            if len(doomed) != len(sure):
                return False
            doomed += [e for e in maybe if e not in doomed and self._comment(*e) == owner]
            for table in (TABLE, BRIDGE_TABLE):
                mine = [(name, key) for t, name, key in doomed if t == table]
                if mine:
                    lines = self._tidy_known(table, owner, mine)
                    self._run("\n".join(lines) + "\n")
        return True

    def _tidy_known(self, table: str, owner: str, doomed: list[tuple[str, str]]) -> list[str]:
        """_tidy's commands for `owner`'s elements `doomed` of `table`, without listing what grows
        with the containers: the network's subnets and isolation are a few elements per network,
        and whether one of their reasons is left is a dump that stops at the first."""
        gone: dict[str, set[bytes]] = {}
        for name, key in doomed:
            gone.setdefault(name, set()).add(nfnl.encode_key(_DECLARED[name][1], key))

        def remains(name: str, test=lambda key, comment: True) -> bool:
            return self._any(table, (name,), lambda key, comment: key not in gone.get(name, ()) and test(key, comment))

        if not any(remains(name) for name in _CONTAINER_SETS[table]):
            return [f"delete table {table}"]  # (its subnets and isolations have no reason left either)
        lines = [f"delete element {table} {name} {{ {_literal(name, key)} }}" for name, key in doomed]
        if table != TABLE:
            return lines
        networks = self._set_elements(TABLE, [f"nets{name[-1]}" for name in SETS[MASQUERADE] if name in gone]
                                      + (list(FORWARD_SETS) if ATTACHED in gone else []))
        empty = set()
        for name in set(SETS[MASQUERADE]) & set(gone):
            for subnet, _ in networks.get(f"nets{name[-1]}", []):
                inside = _in(subnet)
                if any(inside(key) for key in gone[name]) and not remains(name, lambda key, _, inside=inside: inside(key)):
                    empty.add((f"nets{name[-1]}", subnet))
        lines += [f"delete element {TABLE} {name} {{ {subnet} }}" for name, subnet in sorted(empty)]
        label = network_of(owner)
        if ATTACHED in gone and not remains(ATTACHED, lambda _, comment: network_of(comment) == label):
            isolation = [(name, key) for name in FORWARD_SETS for key, comment in networks.get(name, [])
                         if comment == label]
            lines += [f"delete element {TABLE} {name} {{ {_literal(name, key)} }}" for name, key in isolation]
            if isolation and all(comment == label for name in FORWARD_SETS for _, comment in networks.get(name, [])):
                shape = self._table_shape(TABLE)
                if shape is not None and "forward" in shape.chains:
                    lines.append(f"delete chain {TABLE} forward")
        return lines

    def _undo(self, owner: str, kind: str, registered: bool):
        """The undo of one addition: `owner`'s elements of `kind` and, if the addition recorded the
        attachment, its record."""
        names = SETS.get(kind, ())

        def undo() -> None:
            self._retract(lambda name, comment: comment == owner and (name in names or registered and name == ATTACHED),
                          (_table_of(kind),))
        return undo

    def add_masquerade(self, network: str, owner: str, addresses: list[str], subnets: list[str]):
        """Masquerade traffic from `addresses` leaving for anywhere but pynet's `subnets` (a `nets`
        element per subnet not there yet: it stays while an address in it is masqueraded)."""
        with host_lock():
            present = self._set_elements(TABLE, sorted({f"nets{_family(c)}" for c in subnets}))  # a few per network
            known = {k for name in ("nets4", "nets6") for k, _ in present.get(name, [])}
            label = _quote(network_label(network))
            lines = [f"add element {TABLE} nets{_family(c)} {{ {c} comment {label} }}"
                     for c in subnets if c not in known]
            lines += [f"add element {TABLE} {name} {{ {key} comment {_quote(owner)} }}"
                      for name, key in _masquerade_elements(addresses)]
            self._apply(lines)
        return self._undo(owner, MASQUERADE, False)

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
            with host_lock():
                self._apply(lines)
        except CNIError as e:
            if "File exists" in e.details:
                taken = [host_port(m) for m in mappings]
                raise CNIError(errors.PORT_TAKEN, "host port already published",
                               f"one of {', '.join(taken)} is published by another container") from None
            raise
        return self._undo(owner, PORTS, False)

    def isolate_bridge(self, network: str, owner: str, bridge: str, peers: tuple[str, ...] = ()):
        """No forwarding between `bridge` (with its `peers`: links of the same network, such as an
        overlay's VXLAN device) and other isolated bridges while the network has attachments;
        returns the undo."""
        with host_lock():
            lines = registered = self._register(owner)
            if self._comment(TABLE, "iso", bridge) is None:
                group = (bridge, *peers)
                elements = [("iso", m) for m in group] + [("iso_self", f"{a} . {b}") for a in group for b in group]
                lines = registered + [f"add element {TABLE} {name} {{ {_literal(name, key)} comment "
                                      f"{_quote(network_label(network))} }}" for name, key in elements]
            self._apply(lines, forward=True)
        return self._undo(owner, "", bool(registered))

    def deny_icc(self, owner: str, port: str):
        """No IP traffic between `port` and other such bridge ports (`icc: false`); returns the undo."""
        with host_lock():
            self._apply([f"add element {BRIDGE_TABLE} noicc {{ {_quote(port)} comment {_quote(owner)} }}"],
                        BRIDGE_TABLE)
        return self._undo(owner, ICC, False)

    # ---- the firewall plugin: where the host closes the forward path -------------------------------

    def allow_forwarding(self, owner: str, addresses: list[str]):
        """Accept `addresses`' traffic in every chain that closes the forward path now: iptables'
        FORWARD through iptables (nft or legacy), any other firewall's nft chain directly."""
        def undo() -> None:
            self.remove(owner, FORWARD)
        with host_lock():
            chains, others = foreign.forward_chains()
            try:
                for variant, families in _closed_xtables(chains).items():
                    _iptables(variant).accept_forwarding(owner, [a for a in addresses if _family(a) in families])
                foreign.open_path(others, owner, addresses)
            except CNIError:
                undo()
                raise
        return undo

    def _forward_state(self):
        """(foreign chains, the iptables drivers whose PYNET-FORWARD exists here)."""
        chains, others = foreign.forward_chains()
        variants = ["-legacy"] if _legacy_tables() else []
        if any(c["name"] == "PYNET-FORWARD" and c["family"] in ("ip", "ip6") for c in chains):
            variants.append("-nft")
        return others, [_iptables(v) for v in variants]

    def _remove_forwarding(self, owner: str = "", prefix: str = "") -> None:
        """Take the accepts of `owner` (or of every owner whose tag starts with `prefix`) out of other
        firewalls' chains and PYNET-FORWARD."""
        with host_lock():
            others, xtables = self._forward_state()
            for each in {owner} if owner else _forward_owners(others, xtables, prefix):
                foreign.close_path(others, each)
                for driver in xtables:
                    driver.remove(each, FORWARD)

    # ---- removal -----------------------------------------------------------------------------------

    def remove(self, owner: str, kind: str, expected=None) -> None:
        """Remove `owner`'s elements of one kind (MASQUERADE, PORTS, ...); nothing if there are none.
        `expected`: what the ADD was given (the addresses; for PORTS the mappings), if the caller
        knows it: those elements are found by key, and the table is listed only if one is not the
        owner's."""
        if kind == FORWARD:
            self._remove_forwarding(owner=owner)
            return
        if expected:
            found = _masquerade_elements(expected) if kind == MASQUERADE else \
                [(name, key) for name, key, _ in _port_elements(expected)] if kind == PORTS else []
            sure = list(dict.fromkeys((_table_of(kind), name, key) for name, key in found))
            if sure and self._retract_known(owner, sure):
                return
        names = SETS[kind]
        self._retract(lambda name, comment: name in names and comment == owner, (_table_of(kind),))

    def release(self, network: str, owner: str, expected=None) -> None:
        """Everything `owner` has; the network's elements with its last attachment; a table with
        nothing left. `expected`: the attachment's addresses (prevResult's), if the caller knows
        them: its masquerade and its record as an isolated attachment are then found by key, and
        its `icc: false` element in the (small) bridge table; its published ports are the portmap
        plugin's to remove (its DEL, or GC). Without them the tables are listed."""
        if expected is None:
            self._retract(lambda name, comment: comment == owner, (TABLE, BRIDGE_TABLE))
        else:
            maybe = [(TABLE, name, key) for name, key in _masquerade_elements(expected)]
            if self._any(TABLE, (ATTACHED,), lambda *_: True):  # (an isolated network's: hashlib only then)
                maybe.append((TABLE, ATTACHED, _attachment(owner)))
            if self._table_shape(BRIDGE_TABLE) is not None:
                icc = self._set_elements(BRIDGE_TABLE, ("noicc",)).get("noicc", [])
                maybe += [(BRIDGE_TABLE, "noicc", key) for key, comment in icc if comment == owner]
            self._retract_known(owner, [], maybe)
        self.remove(owner, FORWARD)

    def forget_network(self, network: str) -> None:
        """Release every attachment of a deleted network that is left, and the network's elements."""
        prefix = network_label(network) + "/"
        self._retract(lambda name, comment: comment.startswith(prefix), (TABLE, BRIDGE_TABLE))
        self._remove_forwarding(prefix=prefix)

    def owners(self, network: str) -> set[str]:
        prefix = network_label(network) + "/"
        found = {comment for table in (TABLE, BRIDGE_TABLE) for elements in (self._elements(table) or {}).values()
                 for _, comment in elements if comment.startswith(prefix)}
        others, xtables = self._forward_state()
        return found | _forward_owners(others, xtables, prefix)

    # ---- CHECK -------------------------------------------------------------------------------------

    def missing(self, owner: str, kind: str, expected: list) -> list[str]:
        """Which of the addresses `expected` lack `owner`'s masquerade, or (FORWARD) an accept in a
        chain that closes the forward path now; (PORTS) which mappings `owner` does not publish.
        Elements are looked up by key: nothing that grows with the containers is listed."""
        if kind == MASQUERADE:
            return [a for a, (name, key) in zip(expected, _masquerade_elements(expected))
                    if self._comment(TABLE, name, key) != owner]
        if kind == PORTS:
            return [mapping_text(m) for m in expected if self._comment(TABLE, *_published(m)[:2]) != owner]
        chains, others = foreign.forward_chains()
        gaps = foreign.missing(others, owner, expected)
        for variant, families in _closed_xtables(chains).items():
            gaps += _iptables(variant).missing(owner, FORWARD, [a for a in expected if _family(a) in families])
        return gaps


def _iptables(variant: str):
    """pynet's iptables driver on one iptables backend: where iptables' FORWARD drops, the accepts go
    through iptables itself (iptables cannot read native nft `ct` matches in its tables)."""
    from .iptables import Iptables  # only on hosts where iptables closes the forward path

    return Iptables(variant)


def _legacy_tables() -> dict[str, str]:
    """family -> legacy iptables tool, for the families whose legacy filter table exists here."""
    found = {}
    for family, names, tool in (("4", "ip_tables_names", "iptables-legacy"),
                                ("6", "ip6_tables_names", "ip6tables-legacy")):
        try:
            with open(f"/proc/net/{names}") as f:
                if "filter" in f.read().split():
                    found[family] = tool
        except OSError:
            pass
    return found


def _closed_xtables(chains: list[dict]) -> dict[str, set[str]]:
    """iptables variant ("-nft", "-legacy") -> the families whose iptables FORWARD closes the path."""
    import subprocess

    closed: dict[str, set[str]] = {}
    for c in chains:
        if foreign.is_xtables(c) and foreign.is_closed(c):
            closed.setdefault("-nft", set()).add("6" if c["family"] == "ip6" else "4")
    for family, tool in _legacy_tables().items():
        try:
            rules = subprocess.run([tool, "-w", "-S", "FORWARD"], capture_output=True, text=True, timeout=60).stdout
        except OSError:
            continue
        lines = rules.splitlines()
        if "-P FORWARD DROP" in lines or (lines and lines[-1] in ("-A FORWARD -j DROP", "-A FORWARD -j REJECT")):
            closed.setdefault("-legacy", set()).add(family)
    return closed


def _forward_owners(others, xtables, prefix: str) -> set[str]:
    """The owners with accepts in foreign chains or PYNET-FORWARD whose tag starts with `prefix`."""
    return foreign.owners(others, prefix) | {owner for driver in xtables for owner in driver.tags(prefix, (FORWARD,))}
