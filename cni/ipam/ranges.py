"""host-local's address ranges: configuration, validation and the order of allocation. No I/O.

Configuration-compatible with the reference host-local: `ranges` (a list of range sets, each a
list of {subnet, rangeStart, rangeEnd, gateway}), the older single `subnet`/`rangeStart`/
`rangeEnd`/`gateway` form, and the `ipRanges` capability. Each range set gives one address.
"""

from __future__ import annotations

import ipaddress
from ..spec.record import record

from ..spec import CNIError, NetConf
from ..spec import errors
from ..spec.errors import invalid_config


@record
class Range:
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
    start: ipaddress.IPv4Address | ipaddress.IPv6Address
    end: ipaddress.IPv4Address | ipaddress.IPv6Address
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None

    def __contains__(self, address) -> bool:
        return address.version == self.subnet.version and self.start <= address <= self.end

    def usable(self, address) -> bool:
        """Not the network address, the IPv4 broadcast or the gateway."""
        if address == self.subnet.network_address or address == self.gateway:
            return False
        return not (self.subnet.version == 4 and address == self.subnet.broadcast_address)

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


RangeSet = tuple[Range, ...]
MAX_RANGE_SETS = 64  # each gives the container an address (dual-stack needs 2)
MAX_RANGES = 1024  # in all range sets together


def _address(value, where: str, family: int):
    if not isinstance(value, str):
        raise invalid_config(f"invalid {where}", f"{value!r} is not an IP address")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise invalid_config(f"invalid {where}", f"{value!r} is not an IP address") from None
    if address.version != family:
        raise invalid_config(f"invalid {where}",
                             f"{value} is an IPv{address.version} address in an IPv{family} range")
    return address


def parse_range(obj, where: str) -> Range:
    """One range, with the reference's defaults: start = network + 1, end = the last host."""
    if not isinstance(obj, dict):
        raise invalid_config(f"invalid {where}", "a range is an object with a \"subnet\"")
    text = obj.get("subnet")
    if not isinstance(text, str) or not text:
        raise invalid_config(f"invalid {where}", "a range needs a \"subnet\" such as \"10.22.0.0/16\"")
    try:
        interface = ipaddress.ip_interface(text)
    except ValueError as e:
        raise invalid_config(f"invalid {where}.subnet", f"{text!r} is not a subnet in CIDR notation: {e}") from None
    subnet = interface.network
    if "/" not in text or interface.ip != subnet.network_address:
        raise invalid_config(f"invalid {where}.subnet", f"{text!r} is not a network address; did you mean {subnet}?")
    if subnet.prefixlen > subnet.max_prefixlen - 2:
        raise invalid_config(f"invalid {where}.subnet", f"{subnet} is too small to allocate from")
    family = subnet.version
    gateway = obj.get("gateway")
    gateway = _address(gateway, f"{where}.gateway", family) if gateway else subnet.network_address + 1
    if gateway not in subnet:
        raise invalid_config(f"invalid {where}.gateway", f"gateway {gateway} is outside the subnet {subnet}")
    last = subnet.broadcast_address - (1 if family == 4 else 0)
    start = obj.get("rangeStart")
    start = _address(start, f"{where}.rangeStart", family) if start else subnet.network_address + 1
    end = obj.get("rangeEnd")
    end = _address(end, f"{where}.rangeEnd", family) if end else last
    for key, address in (("rangeStart", start), ("rangeEnd", end)):
        if address not in subnet:
            raise invalid_config(f"invalid {where}.{key}", f"{key} {address} is outside the subnet {subnet}")
    if start > end:
        raise invalid_config(f"invalid {where}", f"rangeStart {start} is after rangeEnd {end}")
    return Range(subnet, start, end, gateway)


def _first_overlap(everything: list[tuple[str, Range]]):
    """Two ranges that share an address ((where, range) each), or None. Sorted by family and start,
    a range overlaps an earlier one exactly when it starts before the furthest end so far."""
    ordered = sorted(everything, key=lambda item: (item[1].subnet.version, item[1].start))
    furthest = None
    for item in ordered:
        if furthest is not None and furthest[1].subnet.version == item[1].subnet.version \
                and item[1].start <= furthest[1].end:
            return furthest, item
        if furthest is None or furthest[1].subnet.version != item[1].subnet.version or item[1].end > furthest[1].end:
            furthest = item
    return None


def _range_set_list(value, where: str) -> list[tuple[str, list]]:
    if not isinstance(value, list) or not all(isinstance(s, list) and s for s in value):
        raise invalid_config(f"invalid {where}", "it must be a list of range sets, each a non-empty list of ranges")
    return [(f"{where}[{n}]", s) for n, s in enumerate(value)]


def parse_range_sets(ipam, runtime_config) -> tuple[RangeSet, ...]:
    """All range sets, in the reference's order: runtimeConfig.ipRanges, the single-range form, `ranges`."""
    raw: list[tuple[str, list]] = []
    if runtime_config and runtime_config.get("ipRanges") is not None:
        raw += _range_set_list(runtime_config["ipRanges"], "runtimeConfig.ipRanges")
    if ipam.get("subnet"):
        raw.append(("ipam", [{k: ipam[k] for k in ("subnet", "rangeStart", "rangeEnd", "gateway") if k in ipam}]))
    if ipam.get("ranges") is not None:
        raw += _range_set_list(ipam["ranges"], "ipam.ranges")
    if not raw:
        raise invalid_config("no address ranges", "set ipam.ranges (or ipam.subnet) to the addresses to hand out")
    if len(raw) > MAX_RANGE_SETS or sum(len(entries) for _, entries in raw) > MAX_RANGES:
        raise invalid_config("too many address ranges",
                             f"{len(raw)} range sets with {sum(len(entries) for _, entries in raw)} ranges; pynet's "
                             f"host-local takes at most {MAX_RANGE_SETS} range sets and {MAX_RANGES} ranges")
    sets = []
    for where, entries in raw:
        ranges = tuple(parse_range(r, f"{where}[{n}]") for n, r in enumerate(entries))
        if len({r.subnet.version for r in ranges}) > 1:
            raise invalid_config(f"invalid {where}", "a range set mixes IPv4 and IPv6")
        sets.append((where, ranges))
    everything = [(f"{where}[{n}]", r) for where, ranges in sets for n, r in enumerate(ranges)]
    clash = _first_overlap(everything)
    if clash:
        (wa, a), (wb, b) = clash
        raise invalid_config("overlapping ranges", f"{a} ({wa}) overlaps {b} ({wb})")
    return tuple(ranges for _, ranges in sets)


def requested_addresses(conf: NetConf, cni_args: dict[str, str]) -> list:
    """Addresses asked for by CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips (the `ips` capability)."""
    texts: list[tuple[str, str]] = []
    if cni_args.get("IP"):
        texts += [("CNI_ARGS IP", t) for t in cni_args["IP"].split(",") if t]
    cni = conf.args.get("cni") if conf.args else None
    if isinstance(cni, dict) and cni.get("ips") is not None:
        texts += [("args.cni.ips", t) for t in _string_list(cni["ips"], "args.cni.ips")]
    if conf.runtime_config.get("ips") is not None:
        texts += [("runtimeConfig.ips", t) for t in _string_list(conf.runtime_config["ips"], "runtimeConfig.ips")]
    out = []
    for source, text in texts:
        try:
            out.append(ipaddress.ip_interface(text.strip()).ip)
        except ValueError:
            raise CNIError(errors.ADDRESS_UNAVAILABLE if source.startswith("CNI") else errors.INVALID_CONFIG,
                           f"invalid requested address in {source}", f"{text!r} is not an IP address") from None
    return out


def _string_list(value, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_config(f"invalid {where}", "it must be a list of addresses")
    return value


def range_for(range_set: RangeSet, address) -> Range | None:
    return next((r for r in range_set if address in r), None)


def candidates(range_set: RangeSet, last_reserved):
    """Addresses in allocation order: after the last reserved one, wrapping around the whole set
    (so the last reserved comes last), skipping network, broadcast and gateway addresses."""
    position = 0
    first = range_set[0].start
    for n, r in enumerate(range_set):
        if last_reserved is not None and last_reserved in r:
            position, first = n, last_reserved + 1 if last_reserved < r.end else None
            if first is None:
                position = (n + 1) % len(range_set)
                first = range_set[position].start
            break
    start = (position, first)
    index, address = start
    while True:
        r = range_set[index]
        if r.usable(address):
            yield address, r
        if address >= r.end:
            index = (index + 1) % len(range_set)
            address = range_set[index].start
        else:
            address += 1
        if (index, address) == start:
            return
