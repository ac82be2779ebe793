"""/etc/hostname, /etc/hosts and /etc/resolv.conf of a container, as Docker gives them: written
into the container's state dir (they go with `rm`) and bind-mounted in the container's mount
namespace only, as `ip netns exec` does with /etc/netns/NAME/: the host's files never change.

With `--rootfs`, over the rootfs's files (made empty when the rootfs has /etc without them; a
symlink there is left alone, it would resolve in the host). Without, over the host's paths, as the
container sees them (a symlink such as systemd-resolved's is followed; a file the host lacks is
not made). resolv.conf: `--dns` replaces the name servers and `--dns-search` the search domains of
the CNI result's `dns`, or, when the result has no name servers, of the host's resolv.conf without
loopback servers (unreachable from the container; 127.0.0.53 ...); with none left, Docker's
fallback 8.8.8.8 and 8.8.4.4. hosts: localhost, the `--add-host` entries, then the name on each of
the container's addresses. A container that joins another's network namespace without --rootfs
shares that one's hosts and resolv.conf.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass

HOST_RESOLV = "/etc/resolv.conf"
FALLBACK_SERVERS = ("8.8.8.8", "8.8.4.4")  # Docker's, when the host has only loopback resolvers


class EtcError(ValueError):
    """An invalid --dns, --dns-search or --add-host (one line for people)."""


@dataclass(frozen=True)
class Resolver:
    """Name servers, search domains and options: one resolv.conf."""

    servers: tuple = ()
    search: tuple = ()
    options: tuple = ()

    @classmethod
    def parse(cls, text: str) -> Resolver:
        """The host's resolv.conf, without loopback name servers."""
        found = {"nameserver": [], "search": [], "options": []}
        for line in text.splitlines():
            words = line.split()
            if words and words[0] == "domain":
                words[0] = "search"
            if len(words) > 1 and words[0] in found and not (words[0] == "nameserver" and _loopback(words[1])):
                found[words[0]] += words[1:2] if words[0] == "nameserver" else words[1:]
        return cls(tuple(found["nameserver"]), tuple(found["search"]), tuple(found["options"]))

    def render(self) -> str:
        text = "".join(f"nameserver {s}\n" for s in self.servers or FALLBACK_SERVERS)
        text += f"search {' '.join(self.search)}\n" if self.search else ""
        return text + (f"options {' '.join(self.options)}\n" if self.options else "")


def _loopback(server: str) -> bool:
    try:
        return ipaddress.ip_address(server.split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Requested:
    """What `run` asked for: --dns, --dns-search, --add-host NAME:IP."""

    dns: tuple = ()
    dns_search: tuple = ()
    add_hosts: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.dns or self.dns_search or self.add_hosts)

    def check(self) -> None:
        for server in self.dns:
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise EtcError(f"invalid --dns {server!r}: an IP address") from None
        for domain in self.dns_search:
            if not domain or len(domain) > 253 or any(c.isspace() for c in domain):
                raise EtcError(f"invalid --dns-search {domain!r}: a domain name")
        for entry in self.add_hosts:
            host_entry(entry)


def host_entry(entry: str) -> tuple[str, str]:
    """`NAME:IP` (the first ':' splits: `h:fd00::1` is fine) as (name, ip)."""
    name, _, ip = entry.partition(":")
    try:
        ip = str(ipaddress.ip_address(ip.strip("[]")))
    except ValueError:
        ip = ""
    if not ip or not name or any(c.isspace() for c in name):
        raise EtcError(f"invalid --add-host {entry!r}: NAME:IP")
    return name, ip


def contents(name: str, addresses: list[str], dns: dict, host_resolv: str,
             requested: Requested = Requested()) -> dict[str, str]:
    """The three files (no I/O)."""
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    hosts += "".join(f"{ip}\t{host}\n" for host, ip in map(host_entry, requested.add_hosts))
    hosts += "".join(f"{a.split('/')[0]}\t{name}\n" for a in addresses) or f"127.0.1.1\t{name}\n"
    if dns.get("nameservers"):
        base = Resolver(tuple(dns["nameservers"]), tuple(dns.get("search") or ()), tuple(dns.get("options") or ()))
    else:
        base = Resolver.parse(host_resolv)
    resolver = Resolver(tuple(requested.dns) or base.servers, tuple(requested.dns_search) or base.search,
                        base.options)
    return {"hostname": f"{name}\n", "hosts": hosts, "resolv.conf": resolver.render()}


def _targets(rootfs: str) -> dict[str, str]:
    """file -> the path to mount it over, seen from the root of the container's mount namespace."""
    if not rootfs:
        return {file: path for file in ("hostname", "hosts", "resolv.conf")
                if os.path.isfile(path := os.path.join("/etc", file))}
    etc = os.path.join(rootfs, "etc")
    if not os.path.isdir(etc) or os.path.islink(etc):
        return {}
    return {file: path for file in ("hostname", "hosts", "resolv.conf")
            if not os.path.islink(path := os.path.join(etc, file))}


def provide(name: str, rootfs: str, state_dir: str, holder_pid: int, result: dict | None,
            requested: Requested = Requested()) -> list[str]:
    """Write and bind-mount the files; the paths inside the container that got one."""
    targets = _targets(rootfs)
    try:
        with open(HOST_RESOLV) as f:
            host_resolv = f.read()
    except OSError:
        host_resolv = ""
    addresses = [ip["address"] for ip in (result or {}).get("ips", [])]
    texts = contents(name, addresses, (result or {}).get("dns") or {}, host_resolv, requested)
    for file, target in targets.items():
        source = os.path.join(state_dir, file)
        with open(source, "w") as f:
            f.write(texts[file])
        if rootfs and not os.path.exists(target):
            open(target, "a").close()
        _bind(holder_pid, source, target, same_root=not rootfs)
    return [f"/etc/{file}" for file in targets]


def share(joined_dir: str, holder_pid: int) -> list[str]:
    """`--network container:X` without --rootfs: X's /etc/hosts and /etc/resolv.conf (as Docker)."""
    shared = []
    for file, target in _targets("").items():
        source = os.path.join(joined_dir, file)
        if file != "hostname" and os.path.isfile(source):
            _bind(holder_pid, source, target, same_root=True)
            shared.append(f"/etc/{file}")
    return shared


def _bind(holder_pid: int, source: str, target: str, same_root: bool) -> None:
    """Bind-mount in the holder's mount namespace. Paths are pynet's: with `same_root` (no rootfs)
    in the holder's root, which is pynet's even when pynet runs chrooted (the lab's VMs); with a
    rootfs (the holder chrooted into it), from the namespace's root."""
    root = ["--root"] if same_root else []
    done = subprocess.run(["nsenter", f"--target={holder_pid}", "--mount", *root, "--", "mount", "--bind", source,
                           target], capture_output=True, text=True)
    if done.returncode != 0:
        raise EtcError(f"cannot mount the container's {target}: {done.stderr.strip() or 'mount failed'}")
