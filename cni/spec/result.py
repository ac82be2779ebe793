"""The ADD result: one model for every spec version, parsed from and rendered to each one.

0.3.x/0.4.0 carry ips[].version; 1.0.0 drops it; 1.1.0 adds interface mtu/socketPath/pciID and
route mtu/advmss/priority/table/scope. Converting between versions is parse-then-render, as libcni
converts: fields a version does not define are not rendered in it.
"""

from __future__ import annotations

import ipaddress
from .record import record

from .env import check_ifname
from .errors import INVALID_CONFIG, invalid_config
from .versions import SUPPORTED, at_least


@record
class DNS:
    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def render(self) -> dict:
        out: dict = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out


@record
class Interface:
    name: str
    mac: str = ""
    sandbox: str = ""
    mtu: int = 0
    socket_path: str = ""
    pci_id: str = ""

    def render(self, version: str) -> dict:
        out: dict = {"name": self.name}
        if self.mac:
            out["mac"] = self.mac
        if self.mtu and at_least(version, "1.1.0"):
            out["mtu"] = self.mtu
        if self.sandbox:
            out["sandbox"] = self.sandbox
        if at_least(version, "1.1.0"):
            if self.socket_path:
                out["socketPath"] = self.socket_path
            if self.pci_id:
                out["pciID"] = self.pci_id
        return out


@record
class IPConfig:
    address: str  # CIDR with the host's address, e.g. "10.1.0.5/16"
    gateway: str = ""
    interface: int | None = None  # index into Result.interfaces

    @property
    def family(self) -> str:
        return "6" if ":" in self.address else "4"

    def render(self, version: str) -> dict:
        out: dict = {}
        if not at_least(version, "1.0.0"):
            out["version"] = self.family
        if self.interface is not None:
            out["interface"] = self.interface
        out["address"] = self.address
        if self.gateway:
            out["gateway"] = self.gateway
        return out


@record
class Route:
    dst: str
    gw: str = ""
    mtu: int = 0
    advmss: int = 0
    priority: int = 0
    table: int | None = None
    scope: int | None = None

    def render(self, version: str) -> dict:
        out: dict = {"dst": self.dst}
        if self.gw:
            out["gw"] = self.gw
        if at_least(version, "1.1.0"):
            for key, value in (("mtu", self.mtu), ("advmss", self.advmss), ("priority", self.priority)):
                if value:
                    out[key] = value
            if self.table is not None:
                out["table"] = self.table
            if self.scope is not None:
                out["scope"] = self.scope
        return out


@record
class Result:
    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: DNS = DNS()

    def container_addresses(self) -> list[str]:
        """The addresses (CIDR) of the container's interfaces, and of none named."""
        inside = {n for n, i in enumerate(self.interfaces) if i.sandbox}
        return [ip.address for ip in self.ips if ip.interface is None or ip.interface in inside]

    def gateways(self) -> list[str]:
        """The gateway addresses of the result's IPs, IPv4 first."""
        return sorted({ip.gateway for ip in self.ips if ip.gateway}, key=lambda g: (":" in g, g))

    def render(self, version: str) -> dict:
        """The result as the spec `version` defines it (a JSON-ready dict)."""
        out: dict = {"cniVersion": version}
        if self.interfaces:
            out["interfaces"] = [i.render(version) for i in self.interfaces]
        if self.ips:
            out["ips"] = [ip.render(version) for ip in self.ips]
        if self.routes:
            out["routes"] = [r.render(version) for r in self.routes]
        dns = self.dns.render()
        # libcni prints an empty "dns": {} for 0.x results and leaves it out from 1.0.0 on.
        if dns or not at_least(version, "1.0.0"):
            out["dns"] = dns
        return out


# ---- parsing -------------------------------------------------------------------------------

def _cidr(value, where: str) -> str:
    if not isinstance(value, str) or "/" not in value:
        raise invalid_config(f"invalid {where}", f"{value!r} is not an address in CIDR notation (e.g. 10.1.0.5/16)")
    try:
        return str(ipaddress.ip_interface(value))
    except ValueError as e:
        raise invalid_config(f"invalid {where}", f"{value!r}: {e}") from None


def _ip(value, where: str) -> str:
    if not isinstance(value, str):
        raise invalid_config(f"invalid {where}", f"{value!r} is not an IP address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as e:
        raise invalid_config(f"invalid {where}", f"{value!r}: {e}") from None


def _text(obj: dict, key: str, where: str) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_config(f"invalid {where}.{key}", f"{value!r} is not a string")
    return value


def _ifname(obj: dict, where: str) -> str:
    name = _text(obj, "name", where)
    return check_ifname(name, f"{where}.name", INVALID_CONFIG) if name else ""


def _uint(obj: dict, key: str, where: str, optional: bool = False):
    value = obj.get(key)
    if value is None:
        return None if optional else 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_config(f"invalid {where}.{key}", f"{value!r} is not a non-negative integer")
    return value


def _strings(obj: dict, key: str, where: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_config(f"invalid {where}.{key}", f"{value!r} is not a list of strings")
    return tuple(value)


def _objects(obj: dict, key: str, where: str) -> list:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise invalid_config(f"invalid {where}.{key}", "expected a list of objects")
    return value


def parse_dns(obj, where: str = "dns") -> DNS:
    if obj is None:
        return DNS()
    if not isinstance(obj, dict):
        raise invalid_config(f"invalid {where}", f"{obj!r} is not an object")
    return DNS(
        nameservers=_strings(obj, "nameservers", where),
        domain=_text(obj, "domain", where),
        search=_strings(obj, "search", where),
        options=_strings(obj, "options", where),
    )


def parse_route(obj: dict, where: str) -> Route:
    gw = obj.get("gw")
    return Route(
        dst=_cidr(obj.get("dst"), f"{where}.dst"),
        gw=_ip(gw, f"{where}.gw") if gw else "",
        mtu=_uint(obj, "mtu", where),
        advmss=_uint(obj, "advmss", where),
        priority=_uint(obj, "priority", where),
        table=_uint(obj, "table", where, optional=True),
        scope=_uint(obj, "scope", where, optional=True),
    )


def parse_result(obj, where: str = "prevResult", default_version: str = "") -> tuple[str, Result]:
    """(version, Result) from a result of any supported version (its own cniVersion, else default)."""
    if not isinstance(obj, dict):
        raise invalid_config(f"invalid {where}", "it must be a JSON object")
    version = obj.get("cniVersion")
    if version is None or version == "":
        version = default_version
    if version not in SUPPORTED:
        raise invalid_config(f"invalid {where}",
                             f"cniVersion {version!r} is not one of " + ", ".join(SUPPORTED))
    interfaces = tuple(
        Interface(
            name=_ifname(i, f"{where}.interfaces[{n}]"),
            mac=_text(i, "mac", f"{where}.interfaces[{n}]"),
            sandbox=_text(i, "sandbox", f"{where}.interfaces[{n}]"),
            mtu=_uint(i, "mtu", f"{where}.interfaces[{n}]"),
            socket_path=_text(i, "socketPath", f"{where}.interfaces[{n}]"),
            pci_id=_text(i, "pciID", f"{where}.interfaces[{n}]"),
        )
        for n, i in enumerate(_objects(obj, "interfaces", where))
    )
    ips = []
    for n, ip in enumerate(_objects(obj, "ips", where)):
        here = f"{where}.ips[{n}]"
        index = _uint(ip, "interface", here, optional=True)
        if index is not None and index >= len(interfaces):
            raise invalid_config(f"invalid {here}.interface",
                                 f"{index} is not an index into interfaces (there are {len(interfaces)})")
        gateway = ip.get("gateway")
        ips.append(IPConfig(address=_cidr(ip.get("address"), f"{here}.address"),
                            gateway=_ip(gateway, f"{here}.gateway") if gateway else "",
                            interface=index))
    routes = tuple(parse_route(r, f"{where}.routes[{n}]") for n, r in enumerate(_objects(obj, "routes", where)))
    return version, Result(interfaces, tuple(ips), routes, parse_dns(obj.get("dns"), f"{where}.dns"))
