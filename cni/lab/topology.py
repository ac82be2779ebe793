"""A lab's topology: what `pynet lab up -f lab.yaml` reads (sans-I/O: YAML text in, a validated
`Topology` out), and the quick form `pynet lab up --hosts N` built in code (`quick`), so that one
builder serves both. A bad file is a TopologyError naming the file, the line and the key:
`lab.yaml:7: hosts.h2.kind: unknown kind 'lxc' (netns or vm)`. The schema is in docs/lab.md.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import asdict, dataclass, field

import yaml

from .common import LabError

KINDS = ("netns", "vm")
STORES = ("file", "etcd")
MAX_HOSTS = 50
UNDERLAY_PREFIX = "192.168.213"  # the lab's underlay: host n is .n, its bridge .254 (hosts, vmhosts)
UNDERLAY = ipaddress.IPv4Network(f"{UNDERLAY_PREFIX}.0/24")
UNDERLAY_NAME = "u"  # its namespace is <prefix>u (hosts.make_underlay)
HOST_NAME = (re.compile(r"[a-z][a-z0-9]{0,7}"), "a lowercase letter, then up to 7 lowercase letters or digits")
NAME = (re.compile(r"[a-z][a-z0-9-]{0,14}"), "a lowercase letter, then up to 14 lowercase letters, digits or -")
PUBLISH = re.compile(r"(?:(?P<ip>[0-9.]+):)?(?P<host>\d+):(?P<container>\d+)(?:/(?P<proto>tcp|udp))?")
SLEEP = ("sleep", "infinity")


class TopologyError(LabError):
    """A bad topology file: its message names the file, line and key."""


@dataclass(frozen=True)
class Store:
    kind: str = "file"
    members: int = 1  # etcd cluster members
    tls: bool = False


@dataclass(frozen=True)
class Host:
    name: str
    kind: str = "netns"


@dataclass(frozen=True)
class Network:
    name: str
    subnet: str
    vni: int
    subnet_len: int = 24  # each host's share of the subnet
    encrypt: bool = False


@dataclass(frozen=True)
class Container:
    name: str
    host: str
    network: str
    command: tuple[str, ...] = SLEEP
    publish: tuple[str, ...] = ()  # [IP:]HOST_PORT:CONTAINER_PORT[/PROTO], as `pynet run -p`


@dataclass(frozen=True)
class Topology:
    name: str
    store: Store
    hosts: tuple[Host, ...]
    networks: tuple[Network, ...]
    containers: tuple[Container, ...] = field(default=())

    @property
    def kind(self) -> str:
        return self.hosts[0].kind

    def on(self, host: str) -> list[Container]:
        """The containers of host `host`, in the file's order."""
        return [c for c in self.containers if c.host == host]

    def as_dict(self) -> dict:
        """The topology as the file would say it (every default filled in), for lab.json and status."""
        return {"name": self.name, "store": asdict(self.store),
                "hosts": {h.name: {"kind": h.kind} for h in self.hosts},
                "networks": {n.name: {k: v for k, v in asdict(n).items() if k != "name"} for n in self.networks},
                "containers": {c.name: {"host": c.host, "network": c.network, "command": list(c.command),
                                        "publish": list(c.publish)} for c in self.containers}}


def overlay_config(topology: Topology, network: Network, underlay: str, store: dict, lease_ttl: int) -> dict:
    """The network's overlay configuration on every host (as `pynet create overlay` writes it); its
    containers have a default route via their host if one of them publishes a port (the replies)."""
    publishes = any(c.publish for c in topology.containers if c.network == network.name)
    return {"cniVersion": "1.1.0", "name": network.name, "type": "overlay", "vni": network.vni,
            "network": network.subnet, "subnetLen": network.subnet_len, "underlay": underlay, "leaseTTL": lease_ttl,
            "store": store, **({"encrypt": True} if network.encrypt else {}),
            **({"isDefaultGateway": True} if publishes else {})}


def quick(hosts: int, store: str = "file", members: int = 1, tls: bool = False, encrypt: bool = False,
          kind: str = "netns") -> Topology:
    """`pynet lab up --hosts N`: hosts h1..hN, the overlay `lab` (VNI 4213, 10.213.0.0/16) and a
    container cN sleeping on each host."""
    if not 1 <= hosts <= MAX_HOSTS:
        raise LabError(f"--hosts must be from 1 to {MAX_HOSTS}")
    if (members != 1 or tls) and store != "etcd":
        raise LabError("--etcd-members and --etcd-tls are for --store etcd")
    if not 1 <= members <= 7:
        raise LabError("--etcd-members must be from 1 to 7 (an odd number keeps a majority when one fails)")
    names = [f"h{n}" for n in range(1, hosts + 1)]
    return Topology("lab", Store(store, members, tls), tuple(Host(h, kind) for h in names),
                    (Network("lab", "10.213.0.0/16", 4213, encrypt=encrypt),),
                    tuple(Container(f"c{n}", h, "lab") for n, h in enumerate(names, 1)))


def parse(text: str, source: str = "lab.yaml") -> Topology:
    """The topology in YAML `text` (from the file `source`, named in errors), validated."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark else ""
        raise TopologyError(f"{source}:{line} not YAML: {getattr(e, 'problem', None) or e}") from None
    if root is None:
        raise TopologyError(f"{source}: empty: a lab needs hosts and networks")
    return _Reader(source).topology(root)


class _Reader:
    """Walks the composed YAML nodes (each knows its line), raising TopologyError at the first fault."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node, key: str, message: str):
        raise TopologyError(f"{self.source}:{node.start_mark.line + 1}: {key}: {message}")

    def mapping(self, node, key: str, allowed: tuple[str, ...] | None = None) -> dict:
        """{name: (key node, value node)}; duplicate keys and keys not in `allowed` refused. A null is {}."""
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, "expected a mapping (name: value)")
        found = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                self.fail(k, key, "a key must be a plain name")
            where = f"{key}.{k.value}" if key else k.value
            if k.value in found:
                self.fail(k, where, f"duplicate key (first on line {found[k.value][0].start_mark.line + 1})")
            if allowed is not None and k.value not in allowed:
                self.fail(k, where, f"unknown key (known: {', '.join(allowed)})")
            found[k.value] = (k, v)
        return found

    def scalar(self, node, key: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            self.fail(node, key, "expected a value")
        return node.value

    def integer(self, node, key: str, low: int, high: int) -> int:
        text = self.scalar(node, key)
        if not node.tag.endswith(":int") or not low <= int(text) <= high:
            self.fail(node, key, f"{text!r} is not a whole number from {low} to {high}")
        return int(text)

    def boolean(self, node, key: str) -> bool:
        text = self.scalar(node, key)
        if not node.tag.endswith(":bool"):
            self.fail(node, key, f"{text!r} is not true or false")
        return text.lower() in ("true", "yes", "on", "y")

    def name(self, node, key: str, rule: tuple[re.Pattern, str], what: str) -> str:
        text = self.scalar(node, key)
        if not rule[0].fullmatch(text):
            self.fail(node, key, f"{text!r}: a {what} name is {rule[1]}")
        return text

    def items(self, node, key: str) -> list:
        """The nodes of a non-empty list (a single value is a list of one)."""
        if isinstance(node, yaml.ScalarNode) and not node.tag.endswith(":null"):
            return [node]
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.fail(node, key, "expected a non-empty list")
        return node.value

    def command(self, node, key: str) -> tuple[str, ...]:
        """A list of arguments, or one string split as a shell would."""
        if isinstance(node, yaml.ScalarNode):
            try:
                argv = tuple(shlex.split(self.scalar(node, key)))
            except ValueError as e:
                self.fail(node, key, str(e))
            return argv or self.fail(node, key, "empty")
        return tuple(self.scalar(item, f"{key}[{i}]") for i, item in enumerate(self.items(node, key)))

    def topology(self, root) -> Topology:
        top = self.mapping(root, "", ("name", "store", "hosts", "networks", "containers"))
        name = self.name(top["name"][1], "name", NAME, "lab") if "name" in top else "lab"
        hosts = self.hosts(self.required(top, root, "hosts"))
        store = self.store(top["store"][1] if "store" in top else None, hosts[0].kind)
        networks = self.networks(self.required(top, root, "networks"))
        containers = self.containers(top["containers"][1], hosts, networks) if "containers" in top else ()
        return Topology(name, store, hosts, networks, containers)

    def required(self, top: dict, root, key: str):
        if key not in top:
            self.fail(root, key, "missing: a lab needs hosts and networks")
        return top[key][1]

    def hosts(self, node) -> tuple[Host, ...]:
        found = self.mapping(node, "hosts")
        if not found:
            self.fail(node, "hosts", "a lab needs at least one host")
        hosts = []
        for name, (k, v) in found.items():
            key = f"hosts.{name}"
            self.name(k, key, HOST_NAME, "host")
            if name == UNDERLAY_NAME:
                self.fail(k, key, f"{name!r} is the underlay's name (its namespace has it)")
            if len(hosts) == MAX_HOSTS:
                self.fail(k, key, f"at most {MAX_HOSTS} hosts")
            options = self.mapping(v, key, ("kind",))
            kind = self.scalar(options["kind"][1], f"{key}.kind") if "kind" in options else (
                hosts[0].kind if hosts else "netns")
            if kind not in KINDS:
                self.fail(options["kind"][1], f"{key}.kind", f"unknown kind {kind!r} (netns or vm)")
            if hosts and kind != hosts[0].kind:
                self.fail(options["kind"][1], f"{key}.kind", f"{kind}, but {hosts[0].name} is {hosts[0].kind}: "
                          "a lab's hosts are all namespaces or all VMs")
            hosts.append(Host(name, kind))
        if hosts[0].kind == "vm" and len(hosts) < 2:
            self.fail(node, "hosts", "a lab of VMs needs at least 2 hosts")
        return tuple(hosts)

    def store(self, node, kind: str) -> Store:
        default = "etcd" if kind == "vm" else "file"
        if node is None:
            return Store(default)
        found = self.mapping(node, "store", ("kind", "members", "tls"))
        store_kind = self.scalar(found["kind"][1], "store.kind") if "kind" in found else default
        if store_kind not in STORES:
            self.fail(found["kind"][1], "store.kind", f"unknown store {store_kind!r} (file or etcd)")
        if kind == "vm" and store_kind != "etcd":
            self.fail(found["kind"][1], "store.kind", "a lab of VMs keeps its leases in etcd (the VMs share no "
                      "writable file)")
        members = self.integer(found["members"][1], "store.members", 1, 7) if "members" in found else 1
        tls = self.boolean(found["tls"][1], "store.tls") if "tls" in found else False
        for key in ("members", "tls"):
            if key in found and store_kind != "etcd":
                self.fail(found[key][0], f"store.{key}", "for kind: etcd")
            if key in found and kind == "vm" and (members != 1 or tls):
                self.fail(found[key][0], f"store.{key}", "a lab of VMs has one etcd member, without TLS")
        return Store(store_kind, members, tls)

    def networks(self, node) -> tuple[Network, ...]:
        found = self.mapping(node, "networks")
        if not found:
            self.fail(node, "networks", "a lab needs at least one network")
        networks: list[Network] = []
        for name, (k, v) in found.items():
            key = f"networks.{name}"
            self.name(k, key, NAME, "network")
            options = self.mapping(v, key, ("subnet", "vni", "subnet_len", "encrypt"))
            for required in ("subnet", "vni"):
                if required not in options:
                    self.fail(k, f"{key}.{required}", "missing")
            subnet = self.subnet(options["subnet"][1], f"{key}.subnet")
            vni = self.integer(options["vni"][1], f"{key}.vni", 1, 2 ** 24 - 1)
            length = (self.integer(options["subnet_len"][1], f"{key}.subnet_len", subnet.prefixlen + 1, 30)
                      if "subnet_len" in options else 24)
            if length <= subnet.prefixlen:
                self.fail(options["subnet"][1], f"{key}.subnet", f"{subnet} is too small for hosts' /{length} "
                          "subnets (set subnet_len)")
            encrypt = self.boolean(options["encrypt"][1], f"{key}.encrypt") if "encrypt" in options else False
            for other in networks:
                if other.vni == vni:
                    self.fail(options["vni"][1], f"{key}.vni", f"{vni} is network {other.name}'s already")
                if ipaddress.IPv4Network(other.subnet).overlaps(subnet):
                    self.fail(options["subnet"][1], f"{key}.subnet", f"{subnet} overlaps network {other.name}'s "
                              f"{other.subnet}")
            networks.append(Network(name, str(subnet), vni, length, encrypt))
        return tuple(networks)

    def subnet(self, node, key: str) -> ipaddress.IPv4Network:
        text = self.scalar(node, key)
        try:
            subnet = ipaddress.IPv4Network(text)
        except ValueError as e:
            self.fail(node, key, f"{text!r} is not an IPv4 network: {e}")
        if subnet.overlaps(UNDERLAY):
            self.fail(node, key, f"{subnet} overlaps the lab's underlay {UNDERLAY}")
        return subnet

    def containers(self, node, hosts: tuple[Host, ...], networks: tuple[Network, ...]) -> tuple[Container, ...]:
        host_names, network_names = [h.name for h in hosts], [n.name for n in networks]
        containers: list[Container] = []
        published: dict[tuple[str, str, str], str] = {}  # (host, port, proto) -> container
        for name, (k, v) in self.mapping(node, "containers").items():
            key = f"containers.{name}"
            self.name(k, key, NAME, "container")
            if name in host_names or name == UNDERLAY_NAME:
                self.fail(k, key, f"{name!r} is a host's name in the lab (its namespace has it)")
            options = self.mapping(v, key, ("host", "network", "command", "publish"))
            for required in ("host", "network"):
                if required not in options:
                    self.fail(k, f"{key}.{required}", "missing")
            host = self.scalar(options["host"][1], f"{key}.host")
            if host not in host_names:
                self.fail(options["host"][1], f"{key}.host", f"unknown host {host!r} ({', '.join(host_names)})")
            network_node = options["network"][1]
            if isinstance(network_node.value, list):
                self.fail(network_node, f"{key}.network", "one network per container (pynet run attaches one)")
            network = self.scalar(network_node, f"{key}.network")
            if network not in network_names:
                self.fail(network_node, f"{key}.network", f"unknown network {network!r} "
                          f"({', '.join(network_names)})")
            command = self.command(options["command"][1], f"{key}.command") if "command" in options else SLEEP
            publish = []
            for i, item in enumerate(self.items(options["publish"][1], f"{key}.publish") if "publish" in options
                                     else []):
                entry = self.scalar(item, f"{key}.publish[{i}]")
                where = (host, *self.port(item, f"{key}.publish[{i}]", entry))
                if where in published:
                    self.fail(item, f"{key}.publish[{i}]", f"port {'/'.join(where[1:])} of host {host} is "
                              f"published by {published[where]} already")
                published[where] = name
                publish.append(entry)
            containers.append(Container(name, host, network, command, tuple(publish)))
        return tuple(containers)

    def port(self, node, key: str, entry: str) -> tuple[str, str]:
        """(host port, protocol) of a `publish` entry, checked."""
        match = PUBLISH.fullmatch(entry)
        if not match:
            self.fail(node, key, f"{entry!r} is not [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]")
        for part in ("host", "container"):
            if not 1 <= int(match[part]) <= 65535:
                self.fail(node, key, f"{entry!r}: port {match[part]} is not from 1 to 65535")
        if match["ip"]:
            try:
                ipaddress.IPv4Address(match["ip"])
            except ValueError:
                self.fail(node, key, f"{entry!r}: {match['ip']!r} is not an IPv4 address")
        return match["host"], match["proto"] or "tcp"
