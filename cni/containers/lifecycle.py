"""What `pynet run/stop/rm/exec` do: namespaces, network attachment, the command's process.

Network modes (Docker's): a CNI network by name (the chain's ADD through libcni, with
`IgnoreUnknown=1;K8S_POD_NAME=<name>` in CNI_ARGS as Podman passes, and the `portMappings`, `ips`
and `aliases` capabilities; DEL on `rm`), by default Docker's `bridge` network (made on first use,
netadmin.default_network), `none` (a network namespace with only `lo`),
`host` (the namespace pynet runs in), `container:<name or id>` (the network namespace of a running
container). The network stays attached until `rm`, also while the command is stopped. Removing a
container that others joined deletes its interfaces from the shared namespace (as Docker does);
the joiners keep the namespace, with `lo` only, until they are removed themselves.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess

from . import cgroups, etcfiles, namespaces, netadmin
from ..libcni.api import CNIConfig
from ..libcni.conf import RuntimeConf
from ..libcni.errors import NetworkNotFound
from ..libcni.netconf import NetworkConfig, load_network
from .state import NAME, Container, ContainerError, NoSuchContainer, all_containers, find, locked, new
from .namespaces import Proc

PROTOCOLS = ("tcp", "udp", "sctp")


def parse_port(spec: str) -> dict:
    """`[HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]` as a CNI `portMappings` entry."""
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    parts = rest.rsplit(":", 2)
    if proto not in PROTOCOLS or len(parts) < 2:
        raise ContainerError(f"invalid port {spec!r}: use HOST_PORT:CONTAINER_PORT[/tcp|udp|sctp]")
    host_ip = parts[0].strip("[]") if len(parts) == 3 else ""
    try:
        if host_ip:
            ipaddress.ip_address(host_ip)
        host, inside = int(parts[-2]), int(parts[-1])
    except ValueError:
        raise ContainerError(f"invalid port {spec!r}: ports are numbers, a host address an IP") from None
    if not (0 < host < 65536 and 0 < inside < 65536):
        raise ContainerError(f"invalid port {spec!r}: ports are 1 to 65535")
    return {"hostPort": host, "containerPort": inside, "protocol": proto, "hostIP": host_ip}


def create(name: str, command: list[str], network: str, *, cni_path: list[str], rootfs: str = "",
           ports: tuple[str, ...] = (), ip: str = "", detached: bool = False, memory: str = "",
           cpus: str = "", aliases: tuple[str, ...] = (),
           requested: etcfiles.Requested = etcfiles.Requested()) -> Container:
    """A container with its namespaces made and its network attached; the command not started.
    `requested`: --dns, --dns-search and --add-host for its /etc files."""
    if not command:
        raise ContainerError("no command given: pynet run [OPTIONS] -- COMMAND [ARG...]")
    if rootfs and not os.path.isdir(rootfs):
        raise ContainerError(f"--rootfs {rootfs}: not a directory")
    mappings = [parse_port(p) for p in ports]
    limits = {"memory": cgroups.parse_memory(memory) if memory else 0, "cpus": cgroups.parse_cpus(cpus) if cpus else 0}
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ContainerError(f"invalid --ip {ip!r}: not an IP address") from None
    _check_names(network, aliases, requested)
    with locked():
        taken = [c for c in all_containers() if c.name == name]
        if taken:
            raise ContainerError(f"the name {name!r} is already used by container {taken[0].id[:12]}")
        c = new(name, command, network, rootfs=os.path.abspath(rootfs) if rootfs else "", ports=mappings, ip=ip,
                detached=detached, aliases=list(aliases), dns=list(requested.dns),
                dns_search=list(requested.dns_search), add_hosts=list(requested.add_hosts), **limits)
        c.creator = Proc.of(os.getpid())
        net_arg, conf = _resolve_network(c)
        if (mappings or ip) and conf is None:
            raise ContainerError(f"-p and --ip need a CNI network, not --network {network}")
        c.save()  # before anything exists, so that `rm` finds whatever a failure leaves
        try:
            c.holder = namespaces.start_holder(c.name, c.rootfs, net_arg)
            c.save()
            if c.memory or c.cpus:
                planned = cgroups.plan(c.id, c.memory, c.cpus)
                c.cgroups = list(planned)
                c.save()
                cgroups.create(planned, c.holder.pid)
            if conf is not None:
                c.result = CNIConfig(path=cni_path).add(conf, _runtime_conf(c))
                c.save()
                if ip and not any(a.split("/")[0] == str(ipaddress.ip_address(ip)) for a in c.addresses()):
                    raise ContainerError(f"network {conf.name} did not give the container {ip} (does a plugin "
                                         f"of the network declare the \"ips\" capability?)")
            if c.rootfs or conf is not None or requested:
                etcfiles.provide(c.name, c.rootfs, c.dir, c.holder.pid, c.result, requested)
            elif c.network.startswith("container:"):
                etcfiles.share(os.path.join(os.path.dirname(c.dir), c.network.split(":", 1)[1]), c.holder.pid)
        except BaseException:
            try:
                _teardown(c, cni_path, conf)
            except Exception:  # noqa: BLE001 - the first failure is the one to report
                namespaces.end(c.holder)
                c.remove()
            raise
    return c


def _resolve_network(c: Container):
    """(the holder's --net argument, the CNI network config or None) for the container's mode."""
    if c.network in ("none", "host"):
        return ("new" if c.network == "none" else "host"), None
    if c.network.startswith("container:"):
        other = find(c.network.split(":", 1)[1])
        if not other.running():
            raise ContainerError(f"cannot join the network of {other.name}: it is not running")
        c.network = f"container:{other.id}"
        return namespaces.netns_path(other.holder), None
    if c.network == netadmin.DEFAULT_NETWORK:
        return "new", netadmin.default_network()
    return "new", load_network(c.network)


def _check_names(network: str, aliases: tuple[str, ...], requested: etcfiles.Requested) -> None:
    """--network-alias needs a user-defined network, --dns/--add-host a container's own /etc files
    (as Docker: not with --network container:)."""
    if aliases and (network in ("none", "host", netadmin.DEFAULT_NETWORK) or network.startswith("container:")):
        raise ContainerError(f"--network-alias needs a user-defined network, not --network {network} (as Docker)")
    for alias in aliases:
        if not NAME.match(alias):
            raise ContainerError(f"invalid --network-alias {alias!r}: letters, digits, '_', '.', '-'")
    if requested and network.startswith("container:"):
        raise ContainerError("--dns, --dns-search and --add-host conflict with --network container: (as Docker)")
    try:
        requested.check()
    except etcfiles.EtcError as e:
        raise ContainerError(str(e)) from None


def _runtime_conf(c: Container) -> RuntimeConf:
    capabilities = {}
    if c.ports:
        capabilities["portMappings"] = c.ports
    if c.ip:
        capabilities["ips"] = [c.ip]
    if c.aliases:
        capabilities["aliases"] = {c.cni_network: list(c.aliases)}
    return RuntimeConf(c.id, namespaces.netns_path(c.holder), c.ifname,
                       args=(("IgnoreUnknown", "1"), ("K8S_POD_NAME", c.name)), capability_args=capabilities)


def _teardown(c: Container, cni_path: list[str], conf: NetworkConfig | None = None) -> None:
    """DEL the attachment (while the namespace still exists), end every process, forget the state."""
    if c.cni_network:
        cni = CNIConfig(path=cni_path)
        conf = conf or _network_to_delete_from(c, cni)
        if conf is not None:
            cni.delete(conf, _runtime_conf(c))
    namespaces.end(c.holder)
    cgroups.remove(c.cgroups)
    c.remove()


def _network_to_delete_from(c: Container, cni: CNIConfig) -> NetworkConfig | None:
    """The container's network: its file, or, once that was deleted, the configuration the result
    cache kept (as libcni-based runtimes tear down); None if it was never attached."""
    try:
        return load_network(c.cni_network)
    except NetworkNotFound:
        for entry in cni.cached_attachments(c.cni_network):
            if (entry["container_id"], entry["ifname"]) == (c.id, c.ifname):
                return NetworkConfig.from_bytes(entry["config"], entry["path"])
        return None


def _join(c: Container):
    """What a child runs before exec: enter the container's cgroups (none without limits)."""
    return (lambda: cgroups.join(c.cgroups)) if c.cgroups else None


def start(c: Container) -> int:
    """Run the command in the foreground: the caller's stdin/stdout/stderr; its exit status."""
    child = subprocess.Popen(namespaces.enter_argv(c.holder, c.command), preexec_fn=_join(c))
    c.process = Proc.of(child.pid)
    c.save()
    forward = lambda sig, _frame: namespaces.signal_members(c.holder, sig)  # noqa: E731 - nsenter does not
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:  # the terminal sent SIGINT to the command too
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = 128 - code if code < 0 else code
    c.set_exit(code)
    return code


def start_detached(c: Container, remove_after: bool = False, cni_path: list[str] | None = None) -> None:
    """Run the command in the background, output to the container's log. A monitor process (forked
    from this one, in the host) records it, waits for it, records its exit status and, with
    `remove_after` (`run -d --rm`), removes the container."""
    read, write = os.pipe()
    monitor = os.fork()
    if monitor == 0:
        try:
            os.close(read)
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            with open(c.log_path, "ab") as log:
                child = subprocess.Popen(namespaces.enter_argv(c.holder, c.command), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, preexec_fn=_join(c))
            c.process = Proc.of(child.pid)
            c.save()  # here, not in the parent: a quick exit and --rm must not race with that write
            os.write(write, f"{child.pid}\n".encode())
            os.close(write)
            code = child.wait()
            c.set_exit(128 - code if code < 0 else code)
            if remove_after:
                remove(c.id, force=True, cni_path=cni_path)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        pid = f.read().strip()
    if not pid.isdigit():
        raise ContainerError(f"could not start {c.command[0]} in container {c.name}")
    c.process = Proc.of(int(pid))


def stop(ref: str, timeout: float = 10) -> Container:
    c = find(ref)
    if c.holder:
        namespaces.stop(c.holder, timeout)
    return c


def remove(ref: str, force: bool = False, cni_path: list[str] | None = None) -> Container | None:
    """DEL the network attachment, end the processes and namespaces, forget the container.
    A running container is removed only with `force`; with `force`, one that is gone already
    is no error (None), so `rm -f` can be repeated."""
    with locked():
        try:
            c = find(ref)
        except NoSuchContainer:
            if force:
                return None
            raise
        if c.running() and not force:
            raise ContainerError(f"container {c.name} is running: stop it first or use rm -f")
        _teardown(c, cni_path or [])
    return c


def collect(cni_path: list[str]) -> list[Container]:
    """Remove the containers whose `pynet run` died before starting the command (what a kill -9 in
    the middle of the chain left: holder, veth, reservation, rules): DEL, holder, state."""
    gone = []
    with locked():
        for c in all_containers():
            if c.abandoned():
                _teardown(c, cni_path)
                gone.append(c)
    return gone


def exec_argv(ref: str, command: list[str]) -> list[str]:
    """The command line that runs `command` inside a running container; the caller is moved into
    the container's cgroups (it is about to exec that command line)."""
    c = find(ref)
    if not command:
        raise ContainerError("no command given: pynet exec NAME COMMAND [ARG...]")
    if not c.running():
        raise ContainerError(f"container {c.name} is not running")
    if c.cgroups:
        cgroups.visible()
        cgroups.join(c.cgroups)
    return namespaces.enter_argv(c.holder, command)
