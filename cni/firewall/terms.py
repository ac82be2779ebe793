"""The words the firewall contract and its drivers share: what a change is about (its kind), whose it
is (owner tags), and how a published port reads in a message. No imports: the drivers import this,
not the package (whose factory imports them)."""

from __future__ import annotations

# What a firewall change is about, so one attachment's kinds can be removed separately.
MASQUERADE = "masquerade"
PORTS = "ports"
FORWARD = "forward"
ICC = "icc"


def _digest(text: str, length: int) -> str:
    import hashlib  # rarely needed: not on every plugin start

    return hashlib.sha256(text.encode()).hexdigest()[:length]


def network_label(network: str) -> str:
    """The network as it appears in tags: its name, or for a long one a prefix and a digest (nft
    comments are limited to 128 bytes); never contains "/"."""
    return network if len(network) <= 40 else f"{network[:31]}~{_digest(network, 8)}"


def owner_tag(network: str, container_id: str, ifname: str) -> str:
    """A short, exact tag for one attachment: "<network label>/<container id>/<ifname>"."""
    label = network_label(network)
    tag = f"{label}/{container_id}/{ifname}"
    if len(tag) > 100:
        tag = f"{label}/{_digest(tag, 32)}/{ifname}"
    return tag


def valid_owners(conf) -> set[str]:
    """The owner tags of a GC's cni.dev/valid-attachments (`conf`: its cni.spec NetConf)."""
    return {owner_tag(conf.name, a.container_id, a.ifname) for a in conf.valid_attachments}


def network_of(tag: str) -> str:
    """The network label of an owner tag ("" if `tag` is not one)."""
    return tag.split("/", 1)[0] if tag.count("/") >= 2 else ""


def host_port(mapping: dict) -> str:
    """A published port as people read it: "HOST_IP:PORT/PROTOCOL" ("*" for any host address)."""
    return f"{mapping['host_ip'] or '*'}:{mapping['host_port']}/{mapping['protocol']}"


def destination(mapping: dict) -> str:
    """Where a mapping leads, as iptables takes and prints it: "10.0.0.2:80", "[fd00::2]:80"."""
    address = mapping["address"]
    return f"{f'[{address}]' if ':' in address else address}:{mapping['container_port']}"


def mapping_text(mapping: dict) -> str:
    """A port mapping as people read it: "*:8080/tcp -> 10.0.0.2:80"."""
    return f"{host_port(mapping)} -> {destination(mapping)}"
