"""static ADD reports the configured addresses; DEL has nothing to undo; CHECK compares prevResult.

Addresses, as in the reference: ipam.addresses plus CNI_ARGS IP=a/n,b/m (GATEWAY= sets the gateway
of the CNI_ARGS address whose subnet holds it); args.cni.ips or runtimeConfig.ips (the `ips` capability)
replace them all.
"""

from __future__ import annotations

import ipaddress

from ...spec import CNIError, IPConfig, Request, Result
from ...spec import errors
from ...spec.errors import invalid_config
from ...spec.result import parse_dns
from ..common import ipam_section, routes


def _cidr(text, where: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if not isinstance(text, str) or "/" not in text:
        raise invalid_config(f"invalid {where}", f"{text!r} is not an address in CIDR notation (e.g. 10.10.0.5/24)")
    try:
        return ipaddress.ip_interface(text.strip())
    except ValueError:
        raise invalid_config(f"invalid {where}", f"{text!r} is not an address in CIDR notation") from None


def _gateway(text, where: str, address) -> str:
    try:
        gateway = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise invalid_config(f"invalid {where}", f"{text!r} is not an IP address") from None
    if gateway.version != address.version:
        raise invalid_config(f"invalid {where}", f"gateway {gateway} is not of the family of {address}")
    return str(gateway)


def addresses(request: Request, ipam) -> list[IPConfig]:
    conf = request.config
    args = request.cni_args(known=("IP", "GATEWAY"))
    configured = ipam.get("addresses") or []
    if not isinstance(configured, list) or not all(isinstance(a, dict) for a in configured):
        raise invalid_config("invalid ipam.addresses", "it must be a list of {\"address\": ..., \"gateway\": ...}")
    found = []
    for n, entry in enumerate(configured):
        address = _cidr(entry.get("address"), f"ipam.addresses[{n}].address")
        gateway = entry.get("gateway")
        found.append((address, _gateway(gateway, f"ipam.addresses[{n}].gateway", address) if gateway else ""))
    from_args = [(_cidr(t, "CNI_ARGS IP"), "") for t in args.get("IP", "").split(",") if t.strip()]
    for text in (t.strip() for t in args.get("GATEWAY", "").split(",") if t.strip()):
        try:
            gateway = ipaddress.ip_address(text)
        except ValueError:
            raise invalid_config("invalid CNI_ARGS GATEWAY", f"{text!r} is not an IP address") from None
        from_args = [(a, str(gateway) if gateway in a.network else g) for a, g in from_args]
    found += from_args
    cni = conf.args.get("cni") if conf.args else None
    for source, value in (("args.cni.ips", cni.get("ips") if isinstance(cni, dict) else None),
                          ("runtimeConfig.ips", conf.runtime_config.get("ips"))):
        if value:
            if not isinstance(value, list):
                raise invalid_config(f"invalid {source}", "it must be a list of addresses in CIDR notation")
            found = [(_cidr(t, source), "") for t in value]
    if not found:
        raise invalid_config("static has no address to hand out",
                             "set ipam.addresses, CNI_ARGS IP=, args.cni.ips or runtimeConfig.ips")
    return [IPConfig(address=str(a), gateway=g) for a, g in found]


def add(request: Request) -> Result:
    ipam = ipam_section(request)
    dns = parse_dns(ipam.get("dns"), "ipam.dns") if ipam.get("dns") else request.config.dns
    return Result(ips=tuple(addresses(request, ipam)), routes=routes(ipam), dns=dns)


def delete(request: Request) -> None:
    """static reserves nothing, so there is nothing to release."""


def check(request: Request) -> None:
    prev = request.prev_result()
    have = {ip.address.split("/")[0]: ip.gateway for ip in prev.ips}
    for ip in addresses(request, ipam_section(request)):
        address = ip.address.split("/")[0]
        if address not in have or (ip.gateway and have[address] != ip.gateway):
            raise CNIError(errors.CHECK_FAILED, f"static address {ip.address} is not in prevResult",
                           f"prevResult has {', '.join(have) or 'no addresses'}")
