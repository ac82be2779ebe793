"""portmap's configuration: the `portMappings` capability and `snat`. No I/O."""

from __future__ import annotations

import ipaddress

from ...spec import CNIError, Request
from ...spec import errors
from ...spec.errors import invalid_config

PROTOCOLS = ("tcp", "udp", "sctp")
NOT_YET = ("conditionsV4", "conditionsV6")


def _port(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise invalid_config(f"invalid {where}", f"{value!r} is not a port number (1-65535)")
    return value


def port_mappings(request: Request) -> list[dict]:
    """[{protocol, host_ip, host_port, container_port}] from runtimeConfig.portMappings."""
    conf = request.config
    for key in NOT_YET:
        if conf.get(key):
            raise CNIError(errors.UNSUPPORTED_FIELD, f"unsupported field {key}",
                           f"{key}: pynet's portmap does not take iptables match conditions")
    raw = conf.runtime_config.get("portMappings") or []
    if not isinstance(raw, list) or not all(isinstance(m, dict) for m in raw):
        raise invalid_config("invalid runtimeConfig.portMappings", "it must be a list of objects")
    found = []
    for n, m in enumerate(raw):
        where = f"portMappings[{n}]"
        protocol = str(m.get("protocol") or "tcp").lower()
        if protocol not in PROTOCOLS:
            raise invalid_config(f"invalid {where}.protocol", f"{m.get('protocol')!r}: use tcp, udp or sctp")
        host_ip = m.get("hostIP") or ""
        if host_ip:
            try:
                if not isinstance(host_ip, str):  # ip_address(5) would be 0.0.0.5
                    raise ValueError
                address = ipaddress.ip_address(host_ip)
            except ValueError:
                raise invalid_config(f"invalid {where}.hostIP", f"{host_ip!r} is not an IP address") from None
            host_ip = "" if address.is_unspecified else str(address)
        found.append({"protocol": protocol, "host_ip": host_ip, "host_port": _port(m.get("hostPort"), f"{where}.hostPort"),
                      "container_port": _port(m.get("containerPort"), f"{where}.containerPort")})
    seen = set()
    for m in found:
        key = (m["protocol"], m["host_ip"], m["host_port"])
        if key in seen:
            raise invalid_config("duplicate port mapping", f"{m['host_ip'] or '*'}:{m['host_port']}/{m['protocol']} twice")
        seen.add(key)
    return found


def snat(request: Request) -> bool:
    return request.config.flag("snat", True)
