"""host-local ADD/DEL/CHECK/GC/STATUS: one address per range set, reserved under the store's lock."""

from __future__ import annotations

import ipaddress

from ...context import caller_path
from ...spec import CNIError, IPConfig, Request, Result
from ...spec.config import check_path
from ...spec import errors
from ..common import ipam_section, resolv_conf, routes
from ..ranges import candidates, parse_range_sets, range_for, requested_addresses
from ..store import Store


def _store(request: Request, ipam) -> Store:
    data_dir = ipam.get("dataDir") or ""
    if data_dir:
        data_dir = caller_path(check_path(data_dir, "ipam.dataDir"))
    return Store(data_dir, request.config.name)


def _prev_addresses(request: Request) -> list[str]:
    """The addresses prevResult reports (without prefix length), if there is one."""
    return [a.split("/")[0] for a in request.prev_addresses() or ()]


def _subnets(range_set) -> str:
    return ", ".join(str(r.subnet) for r in range_set)


def _allocate(store: Store, request: Request, index: int, range_set, wanted, held) -> IPConfig:
    owner = (request.container_id, request.ifname)
    mine = [ip for ip in store.held_by(request.container_id)
            if held[ip] == owner and range_for(range_set, ipaddress.ip_address(ip))]
    if mine:
        raise CNIError(errors.ADDRESS_UNAVAILABLE, f"{request.container_id} already has {mine[0]}",
                       f"{request.ifname} of container {request.container_id} holds {mine[0]} in "
                       f"{_subnets(range_set)}; DEL it before adding it again")
    if wanted is not None:
        chosen = range_for(range_set, wanted)
        if not chosen.usable(wanted):
            raise CNIError(errors.ADDRESS_UNAVAILABLE, f"requested address {wanted} cannot be handed out",
                           f"{wanted} is the network, broadcast or gateway address of {chosen.subnet}")
        if str(wanted) in held or not store.reserve(wanted, *owner, index):
            who = held.get(str(wanted), ("another container", ""))[0]
            raise CNIError(errors.ADDRESS_UNAVAILABLE, f"requested address {wanted} is taken",
                           f"{wanted} is reserved by {who}")
        address = wanted
    else:
        for address, chosen in candidates(range_set, store.last_reserved(index)):
            if str(address) not in held and store.reserve(address, *owner, index):
                break
        else:
            raise CNIError(errors.ADDRESSES_EXHAUSTED, f"no free address in {_subnets(range_set)}",
                           f"every address of range set {index} ({', '.join(map(str, range_set))}) is reserved")
    return IPConfig(address=f"{address}/{chosen.subnet.prefixlen}",
                    gateway=str(chosen.gateway) if chosen.gateway else "")


def add(request: Request) -> Result:
    ipam = ipam_section(request)
    range_sets = parse_range_sets(ipam, request.config.runtime_config)
    wanted = requested_addresses(request.config, request.cni_args(known=("IP",)))
    route_list = routes(ipam)
    dns = resolv_conf(ipam["resolvConf"]) if ipam.get("resolvConf") else request.config.dns
    outside = [w for w in wanted if not any(range_for(rs, w) for rs in range_sets)]
    if outside:
        raise CNIError(errors.ADDRESS_UNAVAILABLE, f"requested address {outside[0]} is outside every range",
                       "ranges: " + "; ".join(_subnets(rs) for rs in range_sets))
    store = _store(request, ipam)
    ips: list[IPConfig] = []
    with store.locked():
        held = store.reservations(request.container_id)
        try:
            for index, range_set in enumerate(range_sets):
                mine = next((w for w in wanted if range_for(range_set, w)), None)
                if mine is not None:
                    wanted.remove(mine)
                ips.append(_allocate(store, request, index, range_set, mine, held))
            if wanted:
                raise CNIError(errors.ADDRESS_UNAVAILABLE, "could not hand out all requested addresses",
                               f"{', '.join(map(str, wanted))}: one address per range set")
        except BaseException:
            store.release(ip.address.split("/")[0] for ip in ips)
            raise
    return Result(ips=tuple(ips), routes=route_list, dns=dns)


def delete(request: Request) -> None:
    store = _store(request, ipam_section(request))
    with store.locked():
        store.release(store.owned_by(request.container_id, request.ifname, _prev_addresses(request)))


def check(request: Request) -> None:
    store = _store(request, ipam_section(request))
    with store.locked():
        held = store.owned_by(request.container_id, request.ifname, _prev_addresses(request))
    if not held:
        raise CNIError(errors.CHECK_FAILED, "host-local holds no address for this container",
                       f"no reservation for {request.container_id}/{request.ifname} in {store.directory}")
    prev = request.config.prev_result
    reported = {ip.address.split("/")[0] for ip in prev.ips} if prev is not None else set()
    unreported = set(held) - reported
    if reported and unreported:
        raise CNIError(errors.CHECK_FAILED, "host-local's reservation differs from prevResult",
                       f"the store holds {', '.join(sorted(unreported))}, prevResult has {', '.join(sorted(reported))}")


def gc(request: Request) -> None:
    """Release every reservation whose (container id, ifname) is not a valid attachment."""
    store = _store(request, ipam_section(request))
    valid = {(a.container_id, a.ifname) for a in request.config.valid_attachments}
    valid_ids = {container_id for container_id, _ in valid}
    with store.locked():
        stale = [ip for ip, (cid, ifname) in store.reservations(cached=False).items()
                 if ((cid, ifname) not in valid if ifname else cid not in valid_ids)]
        store.release(stale)


def status(request: Request) -> None:
    """Not available (code 50) when some range set has no free address left."""
    ipam = ipam_section(request)
    range_sets = parse_range_sets(ipam, request.config.runtime_config)
    store = _store(request, ipam)
    with store.locked():
        held = store.reservations()
        for index, range_set in enumerate(range_sets):
            if all(str(a) in held for a, _ in candidates(range_set, store.last_reserved(index))):
                raise CNIError(errors.NOT_AVAILABLE, f"no free address in {_subnets(range_set)}",
                               f"range set {index} is exhausted; new containers cannot be added")
