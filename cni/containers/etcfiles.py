"""/etc/hostname, /etc/hosts and /etc/resolv.conf for a container with a `--rootfs`, as Docker
gives them: written into the container's state dir and bind-mounted, in the container's mount
namespace only, over the rootfs's files (made empty when the rootfs has /etc without them; a
symlink there is left alone). Without `--rootfs`, the container sees the host's files."""

from __future__ import annotations

import ipaddress
import os
import subprocess

HOST_RESOLV = "/etc/resolv.conf"


def contents(name: str, addresses: list[str], dns: dict, host_resolv: str) -> dict[str, str]:
    """The three files (no I/O): the name on each of the container's addresses, the CNI result's
    DNS, else the host's resolv.conf without loopback name servers (unreachable from the container)."""
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    hosts += "".join(f"{a.split('/')[0]}\t{name}\n" for a in addresses) or f"127.0.1.1\t{name}\n"
    if dns.get("nameservers"):
        resolv = "".join(f"nameserver {s}\n" for s in dns["nameservers"])
        resolv += f"search {' '.join(dns['search'])}\n" if dns.get("search") else ""
        resolv += f"options {' '.join(dns['options'])}\n" if dns.get("options") else ""
    else:
        resolv = "".join(line + "\n" for line in host_resolv.splitlines() if not _loopback_server(line))
    return {"hostname": f"{name}\n", "hosts": hosts, "resolv.conf": resolv}


def _loopback_server(line: str) -> bool:
    words = line.split()
    if len(words) < 2 or words[0] != "nameserver":
        return False
    try:
        return ipaddress.ip_address(words[1].split("%")[0]).is_loopback
    except ValueError:
        return False


def provide(name: str, rootfs: str, state_dir: str, holder_pid: int, result: dict | None) -> list[str]:
    """Write and bind-mount the files; the paths inside the container that got one."""
    etc = os.path.join(rootfs, "etc")
    if not rootfs or not os.path.isdir(etc) or os.path.islink(etc):
        return []
    try:
        with open(HOST_RESOLV) as f:
            host_resolv = f.read()
    except OSError:
        host_resolv = ""
    addresses = [ip["address"] for ip in (result or {}).get("ips", [])]
    mounted = []
    for file, text in contents(name, addresses, (result or {}).get("dns") or {}, host_resolv).items():
        source, target = os.path.join(state_dir, file), os.path.join(etc, file)
        if os.path.islink(target):
            continue
        with open(source, "w") as f:
            f.write(text)
        if not os.path.exists(target):
            open(target, "a").close()
        subprocess.run(["nsenter", f"--target={holder_pid}", "--mount", "--", "mount", "--bind", source, target],
                       check=True, capture_output=True)
        mounted.append(f"/etc/{file}")
    return mounted
