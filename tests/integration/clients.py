"""Real clients on a simulated host: containerd's `ctr run --cni` and `buildah run --network`.

A client runs in the host's network namespace (`nsenter --net`: `ip netns exec` remounts /sys
without the cgroup mounts runc needs) and in a private mount namespace where the fixed paths it
reads show the test's directories: /etc/cni/net.d the test's conflist, /opt/cni/bin pynet's plugins,
/var/lib/cni (libcni's result cache) and /run/containerd scratch ones, and /usr/lib/cni (the Go
reference plugins, the last entry of Debian's CNI_PATH) an empty one, so that a plugin missing from
pynet's set makes the run fail instead of falling back to the reference's. A path the machine lacks
(/opt/cni/bin, /run/containerd) gets its mount point from an overlay on its nearest existing parent,
in that namespace only, so nothing is created on the machine (the overlay hides what is mounted
below that parent, e.g. /run/netns, from the client, which needs none of it).

Each container writes what it sees (address, default route, MTU, a sysctl, whether the outside
network answers) to /share/<name> and waits for /share/go, so a test looks at the host while the
containers run; releasing them ends the runs, and with them the clients' DEL.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from tests.integration.busybox import TAG, image_archive
from tests.netns import install_plugins, link_outside, wait_until

SUBNET, GATEWAY, OUTSIDE = "10.99.0", "10.99.0.1", "192.0.2.2"  # the network's /24, the outside host
MTU, RP_FILTER = "1400", "2"  # what the chain's tuning plugin sets in each container
DOMAIN = "dns.pynet"  # dnsname's, when the chain has it

# the anchor of a private mount namespace: "$1" is a scratch directory, then TARGET SOURCE pairs
ANCHOR = r"""
set -e
scratch=$1; shift
mount -t tmpfs pynet-scratch "$scratch"
while [ $# -gt 0 ]; do
    target=$1 source=$2; shift 2
    base=$target
    while [ ! -d "$base" ]; do base=$(dirname "$base"); done
    if [ "$base" != "$target" ]; then  # no mount point here: an overlay on its parent adds one
        layer=$(mktemp -d "$scratch/layer.XXXXXX")
        mkdir "$layer/upper" "$layer/work"
        mount -t overlay pynet-overlay -o "lowerdir=$base,upperdir=$layer/upper,workdir=$layer/work" "$base"
        mkdir -p "$target"
    fi
    mount --bind "$source" "$target"
done
echo ready
exec sleep infinity
"""

PROBE = r"""
{ echo "addr $(ip -4 -o addr show dev eth0)"
  echo "route $(ip route show default)"
  echo "mtu $(cat /sys/class/net/eth0/mtu)"
  echo "rp_filter $(cat /proc/sys/net/ipv4/conf/eth0/rp_filter)"
  ping -c1 -W3 %s >/dev/null && echo "uplink reached"
} > /share/$0.tmp && mv /share/$0.tmp /share/$0
i=0; while [ ! -e /share/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
""" % OUTSIDE


class PrivateMounts:
    """A process in `host`'s network namespace holding a mount namespace of its own, in which each
    path of `shadows` shows its directory; `command()` runs a program in both namespaces."""

    def __init__(self, host, scratch, shadows: dict[str, str]) -> None:
        for d in (scratch, *shadows.values()):
            os.makedirs(d, exist_ok=True)
        pairs = [part for target, source in shadows.items() for part in (target, str(source))]
        self.anchor = subprocess.Popen(["nsenter", f"--net={host.path}", "unshare", "--mount", "--propagation",
                                        "private", "sh", "-c", ANCHOR, "anchor", str(scratch), *pairs],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = self.anchor.stdout.readline()
        if ready != "ready\n":
            self.anchor.wait()
            raise AssertionError(f"private mount namespace: {self.anchor.stderr.read()}")

    def command(self, *argv: str) -> list[str]:
        return ["nsenter", "-t", str(self.anchor.pid), "-m", "-n", *argv]

    def run(self, *argv: str, env=None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run(self.command(*argv), env=env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: {done.stderr[-800:]}")
        return done

    def close(self) -> None:
        self.anchor.kill()
        self.anchor.wait()


def conflist(name: str, bridge: str, tmp_path, names: bool = False) -> dict:
    """The chain Podman writes (bridge with host-local, portmap, firewall, tuning, and with `names`
    dnsname), with every plugin's files under `tmp_path` and tuning setting an MTU and a sysctl."""
    dnsname = [{"type": "dnsname", "domainName": DOMAIN, "capabilities": {"aliases": True}}] if names else []
    return {"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True, "hairpinMode": True,
         "ipam": {"type": "host-local", "dataDir": str(tmp_path / "ipam"), "ranges": [[{"subnet": f"{SUBNET}.0/24"}]],
                  "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall"},
        {"type": "tuning", "mtu": int(MTU), "sysctl": {"net.ipv4.conf.IFNAME.rp_filter": RP_FILTER},
         "dataDir": str(tmp_path / "tuning")}, *dnsname]}


def containers_conf(path, cni_bin, net_d, tmp_dir) -> str:
    """A containers.conf for Podman and buildah: the CNI backend on `cni_bin`'s plugins and
    `net_d`'s networks, and the settings this machine needs (runc, cgroupfs, file events)."""
    with open(path, "w") as f:
        f.write(f'[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["{cni_bin}"]\nnetwork_config_dir = "{net_d}"\n'
                f'[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                f'tmp_dir = "{tmp_dir}"\n[containers]\ndefault_ulimits = []\n')
    return str(path)


class Client:
    """What the tests need of a client: `prepare(names)` makes what the containers need,
    `start(name, script)` runs `script` (PROBE) in a new container on the network (its process ends
    when the container is released), `use_dns(server)` gives later containers that name server the
    client's own way, `close()` removes whatever is left. `names`: dnsname ends the chain; `env`:
    more environment for the client (and so for the plugins it runs)."""

    def __init__(self, host, tmp_path, token, shadows: dict[str, str], names: bool = False,
                 env: dict | None = None) -> None:
        self.host, self.token = host, token
        self.network, self.bridge = f"pnt{token}", f"pnb{token}"
        self.tmp_path, self.share = tmp_path, tmp_path / "share"
        self.cni_bin, self.net_d, self.cache = tmp_path / "cni-bin", tmp_path / "net.d", tmp_path / "cni-cache"
        self.share.mkdir()
        self.net_d.mkdir()
        install_plugins(self.cni_bin)
        (self.net_d / f"{self.network}.conflist").write_text(json.dumps(conflist(self.network, self.bridge, tmp_path,
                                                                                   names)))
        self.image = image_archive(tmp_path / "busybox.tar")
        self.env = {**os.environ, **(env or {})}
        self.mounts = PrivateMounts(host, tmp_path / "scratch",
                                    {"/usr/lib/cni": tmp_path / "empty", "/var/lib/cni": self.cache, **shadows})

    def run(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        return self.mounts.run(*argv, env=self.env, **kw)

    def popen(self, *argv: str) -> subprocess.Popen:
        return subprocess.Popen(self.mounts.command(*argv), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def prepare(self, names: list[str]) -> None:
        pass

    def use_dns(self, server: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.mounts.close()

    def leftovers(self) -> list[str]:
        """Files of the network's attachments still on disk: reservations, tuning state, result cache."""
        found = [f"host-local {n}" for n in os.listdir(self.tmp_path / "ipam" / self.network)
                 if n not in ("lock", "last_reserved_ip.0")]
        for d in (self.tmp_path / "tuning", self.cache / "results"):
            found += [f"{d.name}/{n}" for n in (os.listdir(d) if d.exists() else [])]
        return found


class Containerd(Client):
    """containerd 1.6 run privately (own config, root, state and socket; no CRI plugin), the busybox
    image imported offline; `ctr run --rm --cni` reads the first conflist of /etc/cni/net.d and the
    plugins of /opt/cni/bin, and calls DEL, with an empty CNI_NETNS, when the run ends."""

    def __init__(self, host, tmp_path, token, **options) -> None:
        super().__init__(host, tmp_path, token, {"/etc/cni/net.d": tmp_path / "net.d", "/opt/cni/bin": tmp_path / "cni-bin",
                                                 "/run/containerd": tmp_path / "run-containerd"}, **options)
        self.resolv_mount: list[str] = []
        self.namespace = f"pnt{token}"  # containerd's namespace, also the parent of its containers' cgroups
        home = tmp_path / "containerd"
        home.mkdir()
        # sockets in a short directory of their own: a path under an xdist worker's tmp_path is
        # longer than a unix socket address may be
        self.sockets = tempfile.mkdtemp(prefix=f"pnt{token}-")
        socket = f"{self.sockets}/containerd.sock"
        (home / "config.toml").write_text(
            f'version = 2\nroot = "{home}/root"\nstate = "{home}/state"\n'
            f'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]\n'
            f'[grpc]\naddress = "{socket}"\n[ttrpc]\naddress = "{socket}.ttrpc"\n')
        self.env.update(CONTAINERD_ADDRESS=socket, CONTAINERD_NAMESPACE=self.namespace,
                        CONTAINERD_SNAPSHOTTER="native")
        self.log = open(home / "containerd.log", "w")
        self.daemon = subprocess.Popen(self.mounts.command("containerd", "--config", str(home / "config.toml")),
                                       stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(socket) or self.daemon.poll() is not None,
                   "containerd to listen")
        assert self.daemon.poll() is None, (home / "containerd.log").read_text()[-2000:]
        self.run("ctr", "image", "import", self.image)

    def start(self, name: str, script: str = PROBE) -> subprocess.Popen:
        return self.popen("ctr", "run", "--rm", "--cni", "--mount", f"type=bind,src={self.share},dst=/share,options=rbind:rw",
                          *self.resolv_mount, TAG, name, "sh", "-c", script, name)

    def use_dns(self, server: str) -> None:
        """ctr writes no /etc/resolv.conf (the result's dns goes nowhere): the user mounts one."""
        resolv = self.tmp_path / "resolv.conf"
        resolv.write_text(f"nameserver {server}\nsearch {DOMAIN}\n")
        self.resolv_mount = ["--mount", f"type=bind,src={resolv},dst=/etc/resolv.conf,options=rbind:ro"]

    def close(self) -> None:
        for task in self.run("ctr", "task", "ls", "-q", check=False).stdout.split():
            self.run("ctr", "task", "kill", "-s", "SIGKILL", task, check=False)
            self.run("ctr", "task", "rm", "-f", task, check=False)
        for container in self.run("ctr", "container", "ls", "-q", check=False).stdout.split():
            self.run("ctr", "container", "rm", container, check=False)
        self.daemon.send_signal(signal.SIGTERM)
        self.daemon.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.sockets, ignore_errors=True)
        super().close()
        for controller in os.listdir("/sys/fs/cgroup"):  # the namespace's parent cgroup, left by runc
            with contextlib.suppress(OSError):
                os.rmdir(f"/sys/fs/cgroup/{controller}/{self.namespace}")


class Buildah(Client):
    """buildah 1.28 with private vfs storage, the busybox image loaded offline; `buildah run
    --network NET --isolation oci` calls the CNI backend named in CONTAINERS_CONF (VERSION of every
    plugin, then ADD; DEL when the run ends)."""

    def __init__(self, host, tmp_path, token, **options) -> None:
        super().__init__(host, tmp_path, token, {}, **options)
        self.from_args: list[str] = []
        self.env["CONTAINERS_CONF"] = containers_conf(tmp_path / "containers.conf", self.cni_bin, self.net_d,
                                                      tmp_path / "libpod")
        self.buildah = ["buildah", "--root", str(tmp_path / "storage"), "--runroot", str(tmp_path / "run-storage"),
                        "--storage-driver", "vfs"]
        self.run(*self.buildah, "pull", "--quiet", f"docker-archive:{self.image}")

    def prepare(self, names: list[str]) -> None:
        for name in names:  # a working container each
            self.run(*self.buildah, "from", "--pull-never", "--quiet", "--name", name, *self.from_args, TAG)

    def start(self, name: str, script: str = PROBE) -> subprocess.Popen:
        return self.popen(*self.buildah, "run", "--network", self.network, "--isolation", "oci",
                          "-v", f"{self.share}:/share", name, "--", "sh", "-c", script, name)

    def use_dns(self, server: str) -> None:
        """buildah writes the host's name servers in /etc/resolv.conf, not the result's: `buildah
        from --dns` names another."""
        self.from_args = ["--dns", server, "--dns-search", DOMAIN]

    def close(self) -> None:
        self.run(*self.buildah, "rm", "--all", check=False)
        super().close()


@contextlib.contextmanager
def running(client: Client, names: list[str], script: str = PROBE):
    """Start a container per name at once; yield what each saw (the "key value" lines `script`
    wrote, by name) while they all run; then release them and wait for their clients to end (DEL
    included)."""
    client.prepare(names)
    runs = {name: client.start(name, script) for name in names}
    try:
        def probed():
            for name, run in runs.items():
                assert run.poll() is None or (client.share / name).exists(), \
                    f"{name} ended: {run.stderr.read()[-1500:]}"
            return all((client.share / name).exists() for name in names)

        wait_until(probed, "every container to report", timeout=60)
        yield {name: dict(line.split(" ", 1) for line in (client.share / name).read_text().splitlines())
               for name in names}
    finally:
        (client.share / "go").touch()
        for name, run in runs.items():
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
        (client.share / "go").unlink()
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}: {run.stderr.read()[-1500:]}"
        (client.share / name).unlink()


def checked_address(seen: dict) -> str:
    """The container's IPv4 address as PROBE reported it, after checking the rest of its report:
    one address in the network, the default route via the gateway, tuning's MTU and sysctl, and the
    outside network reached (it has no route back: the host masqueraded)."""
    found = re.findall(r"inet (\S+)/24 ", seen["addr"])
    assert len(found) == 1 and found[0].startswith(f"{SUBNET}.") and found[0] != GATEWAY, seen
    assert seen["route"].split()[:5] == ["default", "via", GATEWAY, "dev", "eth0"], seen
    assert (seen["mtu"], seen["rp_filter"]) == (MTU, RP_FILTER), seen
    assert seen.get("uplink") == "reached", seen
    return found[0]


def missing(*programs: str) -> list[str]:
    return [p for p in programs if not shutil.which(p)]


CLIENTS = {"containerd": (Containerd, ("containerd", "ctr", "runc", "busybox", "nsenter", "unshare")),
           "buildah": (Buildah, ("buildah", "runc", "busybox", "nsenter", "unshare"))}


@contextlib.contextmanager
def on_simulated_host(kind: str, make_netns, tmp_path, token, **options):
    """A client of `kind` (a key of CLIENTS) on a new simulated host with an outside network behind
    it (`client.outside`); the test is skipped where a program it needs is not installed."""
    cls, programs = CLIENTS[kind]
    absent = missing(*programs)
    if absent:
        pytest.skip(f"not installed: {', '.join(absent)}")
    host, outside = make_netns("h"), make_netns("o")
    link_outside(host, outside)
    made = cls(host, tmp_path, token, **options)
    made.outside = outside
    try:
        yield made
    finally:
        made.close()
