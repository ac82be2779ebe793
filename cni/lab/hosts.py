"""`pynet lab up|down|status`: simulated hosts (network namespaces) on an underlay bridge, an
overlay network across them (with names: dnsname), a member daemon and a container per host,
proven by pings by name.

Everything carries the prefix `pnlab-` (namespaces; $PYNET_LAB_PREFIX for another lab beside it) and
lives under $PYNET_LAB_DIR (default /run/pynet/lab): lab.json (what is up), the file store or etcd's
data, each host's PYNET_STATE_DIR, member daemon logs. `down` removes all of it, also after a crash (it finds
the namespaces by prefix). With `--vm` the hosts are VMs (vmhosts.py); `down`, `status` and `on` serve
both kinds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from ..containers import state
from ..kernel.netns import alive, kill_all_in
from . import etcd
from .common import LabError, spawn
from .convergence import Watch, summary
from .status import device_of, networks, peers_in, running
from .topology import UNDERLAY_NAME, UNDERLAY_PREFIX, Container, Topology, overlay_config

PREFIX = "pnlab-"  # the default; $PYNET_LAB_PREFIX gives a lab names of its own (labs side by side, tests)


def lab_dir() -> str:
    return os.environ.get("PYNET_LAB_DIR") or "/run/pynet/lab"


def prefix() -> str:
    """What the names of the lab's namespaces and containers start with."""
    value = os.environ.get("PYNET_LAB_PREFIX") or PREFIX
    if not re.fullmatch(r"[a-z][a-z0-9]{0,10}-", value):
        raise LabError(f"PYNET_LAB_PREFIX={value!r}: up to 11 lowercase letters and digits, then '-'")
    return value


def _tool(name: str) -> str:
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.access(here, os.X_OK) else (shutil.which(name) or name)


def _sh(*argv: str, ns: str = "", check: bool = True, **kw) -> subprocess.CompletedProcess:
    if ns:
        argv = ("ip", "netns", "exec", ns, *argv)
    done = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and done.returncode:
        raise LabError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()[:300]}")
    return done


def _netns(name: str) -> str:
    _sh("ip", "netns", "add", name)
    _sh("ip", "link", "set", "lo", "up", ns=name)
    return name


def make_underlay() -> str:
    """The underlay: bridge ulbr ({UNDERLAY_PREFIX}.254/24) in a namespace of its own; the namespace's name."""
    underlay = _netns(prefix() + UNDERLAY_NAME)
    # a MAC of its own: a bridge that borrows its ports' lowest MAC changes it as hosts join, and the
    # hosts' ARP entries for the store's address go stale for seconds
    _sh("ip", "link", "add", "ulbr", "address", "02:00:c0:a8:d5:fe", "type", "bridge", ns=underlay)
    _sh("ip", "addr", "add", f"{UNDERLAY_PREFIX}.254/24", "dev", "ulbr", ns=underlay)
    _sh("ip", "link", "set", "ulbr", "up", ns=underlay)
    return underlay


def check_free(directory: str) -> None:
    if os.path.exists(os.path.join(directory, "lab.json")) or _leftover_namespaces():
        raise LabError("a lab is up already: run `pynet lab down` first")


def up(topology: Topology) -> dict:
    """Bring the lab `topology` describes up (its hosts network namespaces); returns its description
    (also written to lab.json, with what was asked: `asked`)."""
    if topology.kind != "netns":
        raise LabError("a lab of VMs is vmhosts.up's")
    _encryption_possible(topology)
    directory = lab_dir()
    check_free(directory)
    start = time.monotonic()
    os.makedirs(directory, exist_ok=True)
    lab = {"dir": directory, "prefix": prefix(), "store": topology.store.kind, "hosts": [], "pids": [],
           "network": topology.networks[0].name, "asked": topology.as_dict()}
    try:
        _write(lab)
        underlay = lab["underlay"] = make_underlay()
        if topology.store.kind == "etcd":
            cluster = lab["etcd"] = etcd.start(underlay, directory, UNDERLAY_PREFIX, topology.store.members,
                                               topology.store.tls, wait=False)
            lab["pids"] += [m["pid"] for m in cluster["members"]]
            _write(lab)
            etcd.ready(cluster)
            store = {"type": "etcd", "endpoints": cluster["endpoints"], **cluster["tls"]}
        else:
            # a directory of its own: the member daemons' inotify wakes for nothing else (logs, lab.json)
            store = {"type": "file", "path": os.path.join(directory, "store", "store.json")}
        set_networks(lab, topology, "ul0", store, LEASE_TTL)
        subprocess.run([_tool("pynet"), "plugins", "install", "--dir", os.path.join(directory, "plugins"),
                        "--names", "reference"], check=True, capture_output=True)
        lab["hosts"] = [_described(n, h.name) for n, h in enumerate(topology.hosts, 1)]
        lab["containers"] = containers_of(topology)
        _write(lab)  # from here on, down() removes the hosts' containers
        with Watch(device_of(lab["config"])) as watch:
            _parallel(lambda n: _host(lab, n, watch), range(1, len(topology.hosts) + 1), WORKERS)
            _write(lab)
            deadline = time.monotonic() + CONVERGED_WITHIN
            for host in lab["hosts"]:
                host["convergence_s"] = _convergence(lab, watch, host, deadline - time.monotonic())
        lab["convergence"] = summary([h["convergence_s"] for h in lab["hosts"] if h["convergence_s"] is not None])
        lab["first_ping_s"] = _prove(lab, start)
        lab["up_s"] = round(time.monotonic() - start, 2)
        _write(lab)
        return lab
    except BaseException:
        down()
        raise


LEASE_TTL = 10  # seconds


def _encryption_possible(topology: Topology) -> None:
    """An encrypted network needs WireGuard in this kernel (the hosts share it): refused before
    anything is made if it has none."""
    from ..kernel.links import kernel_knows

    encrypted = [n.name for n in topology.networks if n.encrypt]
    if encrypted and not kernel_knows("wireguard"):
        raise LabError(f"network {encrypted[0]}: encrypt needs WireGuard, and kernel {os.uname().release} has "
                       "none (module wireguard: `modprobe wireguard` fails); a lab of VMs (kind: vm, or "
                       "--vm) has it")


WORKERS = 8  # hosts built at once: enough to keep the CPUs busy while others wait on the kernel or a lock
CONVERGED_WITHIN = 10  # seconds: a host whose entries are not everywhere by then has no convergence figure


def _convergence(lab: dict, watch: Watch, host: dict, timeout: float) -> float | None:
    """The host's convergence on the lab's first network (Watch.convergence: VXLAN's entries, or an
    encrypted overlay's WireGuard peers and routes); None for a host with no container on that
    network (it takes no lease there)."""
    if host["underlay"] not in watch.started:
        return None
    return watch.convergence(host["underlay"], timeout)


def _parallel(work, items, workers: int) -> list:
    """work(item) for every item, `workers` at a time; the results in order (the first error raised)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(work, items))


def _described(n: int, name: str) -> dict:
    """Host n's record before it is made (its first container and address come when they run)."""
    return {"name": f"{prefix()}{name}", "underlay": f"{UNDERLAY_PREFIX}.{n}", "state": "", "container": "",
            "address": ""}


def set_networks(lab: dict, topology: Topology, underlay: str, store: dict, lease_ttl: int) -> None:
    """lab.json's `networks` (name -> the overlay's configuration on every host) and `config` (the
    lab's first network's, which convergence and the quick form's reports follow)."""
    lab["networks"] = {n.name: overlay_config(topology, n, underlay, store, lease_ttl) for n in topology.networks}
    lab["config"] = lab["networks"][lab["network"]]


def containers_of(topology: Topology) -> list[dict]:
    """Every container's record before it runs, host by host in the file's order."""
    return [_container(c, n) for n, h in enumerate(topology.hosts, 1) for c in topology.on(h.name)]


def _container(container: Container, n: int) -> dict:
    """A container's record before it runs, on host n (its address and holder come when it does)."""
    return {"name": prefix() + container.name, "host": n, "network": container.network,
            "command": list(container.command), "publish": list(container.publish), "address": ""}


def _host_env(lab: dict, n: int) -> dict:
    """Host n's environment: every pynet directory of its own (state, runtime, CNI conf and cache)."""
    base = os.path.join(lab["dir"], f"h{n}")
    # PYTHONPATH too: the hosts' pynet is the code this one runs (a checkout ahead of the installed one)
    keep = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
    return {**keep, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYNET_STATE_DIR": base,
            "PYNET_RUN_DIR": os.path.join(base, "run"), "PYNET_CNI_CONF_DIR": os.path.join(base, "net.d"),
            "PYNET_CNI_CACHE_DIR": os.path.join(base, "cni"), "CNI_PATH": os.path.join(lab["dir"], "plugins")}


def pynet_command(lab: dict, n: int, *argv: str) -> tuple[list[str], dict]:
    """The command line and environment of `pynet ARGV` run as host n."""
    return ["ip", "netns", "exec", lab["hosts"][n - 1]["name"], _tool("pynet"), *argv], _host_env(lab, n)


def _pynet(lab: dict, n: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """`pynet ARGV` on host n, as that host's own pynet."""
    command, env = pynet_command(lab, n, *argv)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    if check and done.returncode:
        raise LabError(f"pynet {' '.join(argv)} on {lab['hosts'][n - 1]['name']}: "
                       f"{(done.stderr or done.stdout).strip()[:300]}")
    return done


def _host(lab: dict, n: int, watch: Watch) -> dict:
    """Host n on the underlay; per network, its conflist in the host's conf dir and its member daemon;
    then its containers, each started by `pynet run` (`watch` told when the first on the lab's first
    network starts: its first ADD there)."""
    host = lab["hosts"][n - 1]
    name = host["name"]
    _netns(name)
    _sh("ip", "link", "add", f"port{n}", "type", "veth", "peer", "name", "ul0", "netns", name, ns=lab["underlay"])
    _sh("ip", "link", "set", f"port{n}", "master", "ulbr", "up", ns=lab["underlay"])
    _sh("ip", "addr", "add", f"{host['underlay']}/24", "dev", "ul0", ns=name)
    _sh("ip", "link", "set", "ul0", "up", ns=name)
    if watched(lab, n):
        watch.add(host["underlay"], f"/run/netns/{name}")
    env = _host_env(lab, n)
    host["state"], host["members"] = env["PYNET_STATE_DIR"], []
    for config in lab["networks"].values():
        _pynet(lab, n, "create", "overlay", config["name"], "--vni", str(config["vni"]), "--network",
               config["network"], "--underlay", config["underlay"], "--subnet-len", str(config["subnetLen"]),
               "--lease-ttl", str(config["leaseTTL"]), *(["--encrypt"] if config.get("encrypt") else []),
               *(["--default-gateway"] if config.get("isDefaultGateway") else []), *_store_options(config["store"]))
        # the member daemon idles until the ADD has written the lease, then follows the others at once
        host["members"].append(spawn(name, [_tool("pynet"), "overlay", "member", "--network", config["name"]],
                                     os.path.join(lab["dir"], f"member-h{n}-{config['name']}.log"), env))
    host["member"] = host["members"][0]
    lab["pids"] += host["members"]
    for container in [c for c in lab["containers"] if c["host"] == n]:
        if container["network"] == lab["network"] and host["underlay"] not in watch.started:
            watch.start(host["underlay"])
        _run(lab, n, container, env)
        if not host["container"]:
            host.update(container=container["name"], address=container["address"], holder=container["holder"])
            if host["underlay"] in watch.started:
                host["run_s"] = round(time.monotonic() - watch.started[host["underlay"]], 3)
    return host


def watched(lab: dict, n: int) -> bool:
    """Whether the convergence watch follows host n: it has a container on the lab's first network (a
    host without one takes no lease there, and learns of no other host)."""
    return any(c["host"] == n and c["network"] == lab["network"] for c in lab["containers"])


def _run(lab: dict, n: int, container: dict, env: dict) -> None:
    """`pynet run` of the container on host n; its address and holder pid into its record."""
    publish = [option for port in container["publish"] for option in ("-p", port)]
    run = _pynet(lab, n, "run", "-d", "--name", container["name"], "--network", container["network"], *publish,
                 "--", *container["command"])
    # what `pynet inspect` would say, read where the runtime keeps it: a process less per container
    made = state.load(os.path.join(env["PYNET_RUN_DIR"], "containers", run.stdout.split()[-1], "state.json"))
    container.update(address=made.addresses()[0], holder=made.holder.pid)


PROVE = """for t in "$@"; do
  end=$(( $(date +%s) + 10 ))
  until ping -c1 -W1 "$t" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$end" ] && { echo "unreachable $t"; continue 2; }
    sleep 0.1
  done
  echo "reached $t $(date +%s.%N)"
done"""


def _store_options(store: dict) -> list[str]:
    """`pynet create overlay`'s options for the store."""
    if store["type"] == "file":
        return ["--store-file", store["path"]]
    return [option for url in store["endpoints"] for option in ("--etcd", url)] + \
        [option for key in ("cacert", "cert", "key") if store.get(key) for option in (f"--{key}", store[key])]


def _prove(lab: dict, start: float) -> float | None:
    """Every container pings every other of its network by name (all containers at once, each through
    its list, retrying while the member daemons catch up); seconds from `start` to the first success."""
    containers = lab["containers"]
    wall = time.time() - (time.monotonic() - start)  # `start` on the clock `date` reads

    def others(c: dict) -> list[str]:
        return [o["name"] for o in containers if o is not c and o["network"] == c["network"]]

    def pings(c: dict) -> str:
        if not others(c):
            return ""
        command, env = pynet_command(lab, c["host"], "exec", c["name"], "sh", "-c", PROVE, "sh", *others(c))
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=30 + 11 * len(others(c))
                              ).stdout

    outputs = _parallel(pings, containers, len(containers))
    for c, out in zip(containers, outputs):
        missed = [line.split()[1] for line in out.splitlines() if line.startswith("unreachable ")]
        reached = len([line for line in out.splitlines() if line.startswith("reached ")])
        if missed or reached != len(others(c)):
            raise LabError(f"{c['name']} cannot ping {', '.join(missed) or 'every other container'} "
                           f"({reached} of {len(others(c))} reached)")
    times = [float(line.split()[2]) for out in outputs for line in out.splitlines() if line.startswith("reached ")]
    return round(min(times) - wall, 2) if times else None


def _write(lab: dict) -> None:
    with open(os.path.join(lab["dir"], "lab.json"), "w") as f:
        json.dump(lab, f, indent=1)


def _leftover_namespaces(start: str = "") -> list[str]:
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(start or prefix()))
    except FileNotFoundError:
        return []


def read() -> dict | None:
    try:
        with open(os.path.join(lab_dir(), "lab.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def down() -> list[str]:
    """Remove everything of the lab (idempotent); returns what was removed."""
    lab = read() or {}
    removed = []
    for n, host in enumerate(lab.get("hosts", []), 1):  # the runtime's DEL, holder and cgroups
        if os.path.exists(f"/run/netns/{host['name']}"):
            # every container run there, not only the lab's
            names = _containers(lab, n) or [c["name"] for c in lab.get("containers", []) if c["host"] == n]
            if names and _pynet(lab, n, "rm", "-f", *names, check=False).returncode == 0:
                removed += [f"container {name}" for name in names]
    for pid in lab.get("pids", []):
        try:
            os.killpg(pid, signal.SIGKILL)
            removed.append(f"process {pid}")
        except (ProcessLookupError, PermissionError):
            pass
    _wait_gone(lab.get("pids", []))  # a VM's qemu holds its tap (and the namespace) until it has exited
    for name in reversed(_leftover_namespaces(lab.get("prefix", ""))):  # the names it was made with
        kill_all_in(f"/run/netns/{name}")
        _sh("ip", "netns", "delete", name, check=False)
        removed.append(f"netns {name}")
    if os.path.isdir(lab_dir()):
        shutil.rmtree(lab_dir(), ignore_errors=True)
        removed.append(f"dir {lab_dir()}")
    return removed


def _containers(lab: dict, n: int) -> list[str]:
    """The names of the containers host n's runtime knows (its holders keep their namespaces alive)."""
    return [c["name"] for c in _listed(lab, n) or []]


def _listed(lab: dict, n: int) -> list[dict] | None:
    """`pynet ps -a` on host n (None if it cannot say)."""
    listed = _pynet(lab, n, "--format", "json", "ps", "-a", check=False)
    try:
        return [c for c in json.loads(listed.stdout) if c["name"]] if listed.returncode == 0 else None
    except (ValueError, KeyError, TypeError):
        return None


def _wait_gone(pids: list[int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def status(lab: dict) -> dict:
    """lab.json (`read()`) plus what is alive now: processes, each host's view of its peers (routes) on
    the lab's first network, and `running` (status.running) beside what the file asked for (`asked`)."""
    lab["alive"] = [pid for pid in lab.get("pids", []) if alive(pid)]
    routes = {}
    for n, host in enumerate(lab["hosts"], 1):
        up = os.path.exists(f"/run/netns/{host['name']}")
        for name, config in networks(lab).items():
            out = _sh("ip", "-4", "route", "show", "dev", device_of(config), ns=host["name"], check=False).stdout \
                if up else ""
            routes[n, name] = peers_in(out)
        host["peers"] = routes[n, lab["network"]]
    lab["running"] = running(lab, lambda n: _listed(lab, n), routes)
    return lab


def check_host(lab: dict | None, host: int) -> None:
    """Host `host` (1..N) is one of the lab's (of network namespaces or of VMs)."""
    if lab is None:
        raise LabError("no lab is up: pynet lab up")
    if not 1 <= host <= len(lab["hosts"]):
        raise LabError(f"the lab has hosts 1 to {len(lab['hosts'])}")


def on(lab: dict, host: int, argv: list[str]) -> int:
    """Run `pynet ARGV` as host `host` (1..N) of the lab, output straight through; its exit status."""
    command, env = pynet_command(lab, host, *argv)
    return subprocess.run(command, env=env).returncode
