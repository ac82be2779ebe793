"""The overlay plugin's configuration, validated. No I/O."""

from __future__ import annotations

import ipaddress
import os
from ...spec.record import record
from urllib.parse import urlparse

from ...context import getenv
from ...spec import CNIError, Request
from ...spec import errors
from ...spec.env import check_ifname
from ...spec.errors import invalid_config

MAX_VNI = 2**24 - 1
DEFAULT_STATE_DIR = "/var/lib/pynet"
DEFAULT_FILE_STORE = "/var/lib/pynet/overlay-store.json"
DEFAULT_PREFIX = "/pynet/overlay"
DEFAULT_TTL = 86400  # seconds; the member daemon renews it every third of that
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
WIREGUARD_OVERHEAD = 60  # outer IPv4 20 + UDP 8 + WireGuard's header 16 and tag 16 (no Ethernet: routed)
VXLAN_PORT, WIREGUARD_PORT = 4789, 51820  # the default `port` unencrypted, and encrypted
MAX_MTU = 65535 - WIREGUARD_OVERHEAD


TLS_KEYS = ("cacert", "cert", "key")  # etcd's TLS files, as etcdctl's --cacert/--cert/--key


@record
class StoreConf:
    type: str  # "file" or "etcd"
    path: str = ""
    endpoints: tuple[str, ...] = ()
    prefix: str = DEFAULT_PREFIX
    cacert: str = ""  # https endpoints: the CA that signed etcd's certificates (default: the system's)
    cert: str = ""  # and the client's certificate and key, for a cluster that asks for one
    key: str = ""

    def as_dict(self) -> dict:
        if self.type == "file":
            return {"type": "file", "path": self.path, "prefix": self.prefix}
        tls = {k: getattr(self, k) for k in TLS_KEYS if getattr(self, k)}
        return {"type": "etcd", "endpoints": list(self.endpoints), "prefix": self.prefix, **tls}


@record
class OverlayConf:
    name: str
    vni: int
    network: ipaddress.IPv4Network
    subnet_len: int
    port: int
    underlay: str
    mtu: int
    store: StoreConf
    lease_ttl: int
    bridge: str
    device: str
    state_dir: str  # this host's state for this network: lease, IPAM data, lock
    is_default_gateway: bool = False
    ip_masq: bool = False
    firewall_backend: str = ""
    isolation: bool = False
    encrypt: bool = False  # routed over WireGuard between the hosts (device pnw<vni>), not VXLAN

    @property
    def ipam_dir(self) -> str:
        return os.path.join(self.state_dir, "ipam")

    @property
    def key_path(self) -> str:
        """This host's WireGuard private key (mode 0600; never in the store, a result or a log)."""
        return os.path.join(self.state_dir, "wg.key")

    @property
    def overhead(self) -> int:
        return WIREGUARD_OVERHEAD if self.encrypt else VXLAN_OVERHEAD

    @property
    def tunnel(self) -> str:
        return "WireGuard" if self.encrypt else "VXLAN"


def _int(conf, key: str, default, low: int, high: int, what: str) -> int:
    value = conf.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_config(f"invalid {key}", f"{value!r}: {what} is a number from {low} to {high}")
    return value


def parse_store(raw) -> StoreConf:
    raw = {"type": "file"} if raw is None else raw
    if not isinstance(raw, dict):
        raise invalid_config("invalid store", 'store must be {"type": "file", "path": ...} or '
                             '{"type": "etcd", "endpoints": [...]}')
    prefix = raw.get("prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise invalid_config("invalid store.prefix", f"{prefix!r}: a key prefix starting with /")
    prefix = prefix.rstrip("/") or DEFAULT_PREFIX
    if raw.get("type") == "file":
        path = raw.get("path", DEFAULT_FILE_STORE)
        if not isinstance(path, str) or not os.path.isabs(path):
            raise invalid_config("invalid store.path", f"{path!r}: an absolute file path shared by the hosts")
        return StoreConf("file", path=path, prefix=prefix)
    if raw.get("type") == "etcd":
        endpoints = raw.get("endpoints")
        if not isinstance(endpoints, list) or not endpoints or not all(
                isinstance(e, str) and urlparse(e).scheme in ("http", "https") and urlparse(e).hostname
                for e in endpoints):
            raise invalid_config("invalid store.endpoints", f"{endpoints!r}: a list of etcd client URLs such as "
                                 "\"http://10.0.0.1:2379\" (https:// with TLS), one per cluster member")
        tls = {k: raw.get(k, "") for k in TLS_KEYS}
        for k, path in tls.items():
            if not isinstance(path, str) or path and not os.path.isabs(path):
                raise invalid_config(f"invalid store.{k}", f"{path!r}: an absolute path to a PEM file")
        if bool(tls["cert"]) != bool(tls["key"]):
            raise invalid_config("invalid store.cert", "a client certificate needs its key, and the key its certificate")
        if any(tls.values()) and not all(urlparse(e).scheme == "https" for e in endpoints):
            raise invalid_config("invalid store.endpoints", "cacert, cert and key are for https:// endpoints: "
                                 "make every endpoint https://")
        return StoreConf("etcd", endpoints=tuple(e.rstrip("/") for e in endpoints), prefix=prefix, **tls)
    raise invalid_config("invalid store.type", f"{raw.get('type')!r}: use \"file\" or \"etcd\"")


def _underlay(value) -> str:
    """An interface name or an IPv4 address."""
    if not isinstance(value, str) or not value:
        raise invalid_config("missing underlay", "set underlay to the interface name or IPv4 address that "
                             "carries VXLAN between hosts (such as \"eth0\")")
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        return check_ifname(value, "underlay", errors.INVALID_CONFIG)


def parse(request: Request) -> OverlayConf:
    return parse_netconf(request.config)


def conf_problem(name: str, plugin: dict) -> str:
    """What the plugin would reject in `plugin`, its configuration in network `name` ("" for nothing):
    `pynet create overlay` checks with it the conflist it writes."""
    from ...spec.config import parse_config

    try:
        parse_netconf(parse_config({"cniVersion": "1.0.0", "name": name, **plugin}))
    except CNIError as e:
        return f"{e.msg}: {e.details}" if e.details else e.msg
    return ""


def parse_netconf(conf) -> OverlayConf:
    """The overlay's configuration from a parsed network configuration (cni.spec NetConf)."""
    if conf.ipam:
        raise CNIError(errors.UNSUPPORTED_FIELD, "overlay manages its own addresses",
                       "remove ipam: each host hands out addresses from its subnet lease of `network`")
    vni = _int(conf, "vni", None, 1, MAX_VNI, "a VXLAN network identifier (vni)")
    try:
        if not isinstance(conf.get("network"), str):  # IPv4Network(5) would be 0.0.0.5/32
            raise TypeError
        network = ipaddress.IPv4Network(conf.get("network"))
    except (ValueError, TypeError):
        raise invalid_config("invalid network", f"{conf.get('network')!r}: an IPv4 CIDR such as \"10.244.0.0/16\" "
                             "(host bits zero)") from None
    subnet_len = _int(conf, "subnetLen", 24, network.prefixlen + 1 if network.prefixlen < 30 else 31, 30,
                      f"subnetLen of {network}")
    underlay = _underlay(conf.get("underlay"))
    mtu = conf.mtu(MAX_MTU)
    state = state_dir_of(conf.name)
    encrypt = conf.flag("encrypt")
    return OverlayConf(
        name=conf.name, vni=vni, network=network, subnet_len=subnet_len,
        port=_int(conf, "port", WIREGUARD_PORT if encrypt else VXLAN_PORT, 1, 65535, "a UDP port"),
        underlay=underlay, mtu=mtu, encrypt=encrypt,
        store=parse_store(conf.get("store")),
        lease_ttl=_int(conf, "leaseTTL", DEFAULT_TTL, 2, 10**8, "a lease time to live in seconds"),
        bridge=check_ifname(conf.get("bridge") or f"pno{vni}", "bridge", errors.INVALID_CONFIG),
        device=f"pnw{vni}" if encrypt else f"pnx{vni}", state_dir=state,
        is_default_gateway=conf.flag("isDefaultGateway"), ip_masq=conf.ip_masq,
        firewall_backend=conf.firewall_backend, isolation=conf.flag("isolation"))


def state_dir_of(name: str) -> str:
    """This host's state directory for overlay `name` (under $PYNET_STATE_DIR)."""
    return os.path.join(getenv("PYNET_STATE_DIR") or DEFAULT_STATE_DIR, "overlay", name)


def from_state(state: dict, state_dir: str) -> OverlayConf:
    """The configuration a host joined with, as its lease.json recorded it (for the member daemon and CLI)."""
    return OverlayConf(name=state["name"], vni=state["vni"], network=ipaddress.IPv4Network(state["network"]),
                       subnet_len=state["subnetLen"], port=state["port"], underlay=state["underlay"], mtu=0,
                       store=parse_store(state["store"]), lease_ttl=state["leaseTTL"], bridge=state["bridge"],
                       device=state["device"], state_dir=state_dir, isolation=state.get("isolation", False),
                       firewall_backend=state.get("firewallBackend", ""), encrypt=state.get("encrypt", False))
