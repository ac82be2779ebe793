"""`pynet lab up --vm`: the lab's hosts are small qemu VMs (cni/lab/vm.py's image and command line) on
the underlay bridge, the store is etcd listening on the underlay, and each VM runs pynet from this
machine's files (its / shared read-only over 9p, in a chroot): the overlay's member daemon and a container made
by `pynet run`. The VMs keep running after `up` (detached qemu processes, in lab.json's pids, each
holding one of the machine's VM slots); `pynet lab down` (hosts.down) kills them and removes the rest.

Per VM, under the lab directory: vmN.img (initrd), vmN.log (serial console) and vmN/, the VM's
writable share: net.d/ (the overlay's conflist), plugins/, the member daemon's log, the container's state
and the command channel (cni/lab/channel.py) through which `up` proves the pings and `lab on N` and
`lab status` reach the VM later.
"""

from __future__ import annotations

import compileall
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

from . import etcd, hosts
from .channel import Channel, ChannelTimeout, guest_loop
from .hosts import LabError, prefix
from .image import missing
from .status import device_of, networks, peers_in, running
from .topology import UNDERLAY_PREFIX, Topology
from .vm import _slots, qemu_argv, vm_max, write_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ETCD_PORT = 2379
SHARE = "/tmp/share"  # the VM's share, as the guest (and its chroot of this machine's /) sees it
PORTMAP_MODULES = ("nf_tables", "nft_chain_nat", "nft_nat", "nft_ct", "nft_fib_inet", "nft_masq")


def _seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        raise LabError(f"{name} must be a number of seconds") from None


def _run_line(c: dict, pynet: str) -> str:
    """The guest's `pynet run` of container `c` (its state copied to the share as NAME.json)."""
    q = shlex.quote
    argv = ["run", "-d", "--name", c["name"], "--network", c["network"],
            *[a for p in c["publish"] for a in ("-p", p)], "--", *c["command"]]
    return f"""chroot /hostfs {pynet} {' '.join(q(a) for a in argv)} >$S/run-{c['name']}.out 2>&1 || rc=1
id=$(tail -n1 $S/run-{c['name']}.out)
cp /run/pynet/run/containers/$id/state.json $S/{c['name']}.tmp 2>/dev/null && mv $S/{c['name']}.tmp $S/{c['name']}.json
"""


def guest_script(containers: list[dict], networks: list[str], agent: str) -> str:
    """A VM's /vmlab.sh (after vm.py's address lines): pynet's environment; once the host has written
    the networks' conflists, the VM's containers (each one's state copied to the share; nftables'
    modules first if one publishes a port), then a member
    daemon per network; then the command loop, for good. Plugins run in-process (PYNET_AGENT=off unless
    set): a resident plugin agent's start costs more than it saves for one ADD."""
    pynet = shlex.quote(hosts._tool("pynet"))
    runs = "".join(_run_line(c, pynet) for c in containers)
    if any(c["publish"] for c in containers):  # portmap's nftables: modules the initramfs leaves out, from /hostfs
        # (through the machine's sh: busybox's chroot would run its own modprobe applet, which finds nothing)
        runs = f"chroot /hostfs /bin/sh -c 'modprobe -a {' '.join(PORTMAP_MODULES)}' >$S/modprobe.log 2>&1\n" + runs
    members = "".join(f"chroot /hostfs {pynet} overlay member --network {shlex.quote(name)} "
                      f">$S/member-{name}.log 2>&1 &\n" for name in networks)
    return f"""S={SHARE}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PYTHONDONTWRITEBYTECODE=1 \\
  PYTHONPATH={shlex.quote(ROOT)} PYNET_STATE_DIR=/run/pynet PYNET_RUN_DIR=/run/pynet/run \\
  PYNET_CNI_CONF_DIR=$S/net.d PYNET_CNI_CACHE_DIR=/run/pynet/cni CNI_PATH=$S/plugins PYNET_AGENT={agent}
mkdir -p /run/pynet
echo "LAB-BOOTED $(cut -d' ' -f1 /proc/uptime)"
while [ ! -d $S/net.d ]; do sleep 0.1; done
rc=0
{runs}echo $rc >$S/run.tmp; mv $S/run.tmp $S/run.rc
# the member daemons after the containers, not beside them: on one emulated CPU that is 4-5 s sooner to the first ping
{members}echo "LAB-CONTAINER $(cut -d' ' -f1 /proc/uptime) rc=$rc"
{guest_loop(SHARE, "chroot /hostfs /bin/sh")}"""


def _check(count: int, store: str) -> None:
    if store != "etcd":
        raise LabError("--vm keeps the overlay's leases in etcd on the underlay (the VMs share no writable "
                       "file): leave out --store file")
    problem = missing()
    if problem:
        raise LabError(f"--vm needs qemu, a kernel with its modules and busybox-static: {problem}")
    if count < 2:
        raise LabError("--vm needs at least 2 hosts")
    if count > vm_max():
        raise LabError(f"--hosts {count}: this machine runs at most {vm_max()} VMs at once (PYNET_VM_MAX); "
                       f"with the cores and memory for more, set PYNET_VM_MAX={count}")
    if not shutil.which("etcd"):
        raise LabError("--vm needs etcd (apt-get install etcd-server)")


def _take_slots(count: int) -> list[int]:
    try:
        return _slots(count, timeout=0)
    except TimeoutError:
        pass
    wait = _seconds("PYNET_LAB_VM_WAIT", 600)
    print(f"waiting up to {wait:.0f} s for {count} free VM slots (PYNET_VM_MAX={vm_max()}; other VMs are running)",
          file=sys.stderr, flush=True)
    try:
        return _slots(count, timeout=wait)
    except TimeoutError as e:
        raise LabError(f"{e}: other VMs are running on this machine (the VM tests?); try again later") from None


def up(topology: Topology) -> dict:
    """Bring the lab of VMs `topology` describes up; returns its description (also written to lab.json,
    with what was asked: `asked`)."""
    count = len(topology.hosts)
    _check(count, topology.store.kind)
    directory = hosts.lab_dir()
    hosts.check_free(directory)
    slots = _take_slots(count)
    start = time.monotonic()
    lab = {"dir": directory, "prefix": prefix(), "store": "etcd", "vm": True, "hosts": [], "pids": [],
           "network": topology.networks[0].name, "asked": topology.as_dict(),
           "containers": hosts.containers_of(topology)}
    try:
        os.makedirs(directory, exist_ok=True)
        hosts._write(lab)
        lab["underlay"] = hosts.make_underlay()
        compileall.compile_dir(os.path.join(ROOT, "cni"), quiet=2)  # the guests cannot write a .pyc
        agent = os.environ.get("PYNET_AGENT") or "off"
        for n, host in enumerate(topology.hosts, 1):
            _boot(lab, n, host.name, slots[n - 1], agent)
            hosts._write(lab)
        cluster = etcd.start(lab["underlay"], directory, UNDERLAY_PREFIX, port=ETCD_PORT, wait=False)
        lab["pids"].append(cluster["members"][0]["pid"])
        url = cluster["endpoints"][0]
        # a longer lease than the netns lab's: a member daemon under emulation on a busy machine may stall for seconds
        hosts.set_networks(lab, topology, "eth0", {"type": "etcd", "endpoints": [url]}, 30)
        hosts._write(lab)
        etcd.ready(cluster)
        for n in range(1, count + 1):
            _configure(lab, n)
        _containers(lab, start)
        lab["first_ping_s"] = _prove(lab, start)
        lab["up_s"] = round(time.monotonic() - start, 2)
        lab["leases"] = _leases(lab)
        hosts._write(lab)
        return lab
    except BaseException:
        hosts.down()
        raise
    finally:
        for fd in slots:  # each qemu holds its own
            os.close(fd)


def _boot(lab: dict, n: int, host: str, slot: int, agent: str) -> None:
    """Start VM n, the lab's host `host` (detached): its share, initrd, tap on the underlay bridge, qemu."""
    name, share = f"vm{n}", os.path.join(lab["dir"], f"vm{n}")
    os.makedirs(share)
    image, log = os.path.join(lab["dir"], f"{name}.img"), os.path.join(lab["dir"], f"{name}.log")
    containers = [c for c in lab["containers"] if c["host"] == n]
    write_image(image, n, guest_script(containers, list(lab["asked"]["networks"]), agent),
                subnet=UNDERLAY_PREFIX)
    tap = f"tap{n}"
    hosts._sh("ip", "tuntap", "add", "dev", tap, "mode", "tap", ns=lab["underlay"])
    hosts._sh("ip", "link", "set", tap, "master", "ulbr", "up", ns=lab["underlay"])
    argv = qemu_argv(name, n, image, log, share, int(os.environ.get("PYNET_LAB_VM_MEM") or 256), tap)
    with open(os.path.join(lab["dir"], f"{name}.qemu.out"), "wb") as out:
        # `ip netns exec` execs qemu: the pid is qemu's; it inherits (and so holds) one VM slot
        process = subprocess.Popen(["ip", "netns", "exec", lab["underlay"], *argv], stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=out, start_new_session=True, pass_fds=(slot,))
    lab["pids"].append(process.pid)
    lab["hosts"].append({"name": f"{prefix()}{host}", "vm": name, "underlay": f"{UNDERLAY_PREFIX}.{n}",
                         "qemu": process.pid, "console": log, "share": share, "container": "", "address": ""})


def _configure(lab: dict, n: int) -> None:
    """The networks' conflists and the plugins in VM n's share (its containers wait for the conflists).
    No dnsname: under emulation on a busy machine, a Python DNS server's start can outlast the 10 s
    dnsname's ADD gives it (names across an overlay's hosts: the netns lab)."""
    from ..cli.plugins import install
    from ..containers import netadmin
    from ..plugins.overlay.config import conf_problem

    share = lab["hosts"][n - 1]["share"]
    install(os.path.join(share, "plugins"), "reference")
    os.makedirs(os.path.join(share, "net.d.tmp"))
    for config in lab["networks"].values():
        opts = netadmin.OverlayOptions(vni=config["vni"], network=config["network"], underlay=config["underlay"],
                                       subnet_len=config["subnetLen"], mtu=0, encrypt=config.get("encrypt", False),
                                       etcd=tuple(config["store"]["endpoints"]), store_file="",
                                       lease_ttl=config["leaseTTL"], dns=False,
                                       default_gateway=config.get("isDefaultGateway", False))
        netadmin.create_overlay(config["name"], opts, conf_dir=os.path.join(share, "net.d.tmp"), check=conf_problem)
    os.rename(os.path.join(share, "net.d.tmp"), os.path.join(share, "net.d"))  # all at once for the guest


def _vm_alive(host: dict) -> bool:
    return hosts.alive(host["qemu"])


def _tail(path: str, size: int = 600) -> str:
    """The end of a log, printable characters only (a failed `up` removes the file with the rest)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()[-size:]
    except FileNotFoundError:
        return ""
    return "".join(c for c in text if c.isprintable() or c == "\n")


def _containers(lab: dict, start: float) -> None:
    """Wait for each VM's `pynet run`s; each container's address and holder pid from its state."""
    deadline = start + _seconds("PYNET_LAB_VM_TIMEOUT", 300)
    boot_deadline = start + _seconds("PYNET_LAB_VM_BOOT", 120)  # TCG: 5-10 s, 30-40 s on a busy machine
    for n, host in enumerate(lab["hosts"], 1):
        done, booted = os.path.join(host["share"], "run.rc"), False
        while not os.path.exists(done):
            if not booted and time.monotonic() > boot_deadline:
                booted = "LAB-BOOTED" in _tail(host["console"], 100000)
                if not booted:
                    accel = " (PYNET_VM_ACCEL=kvm: is KVM usable here?)" if os.environ.get("PYNET_VM_ACCEL") else ""
                    raise LabError(f"VM {host['vm']} did not boot in {boot_deadline - start:.0f} s{accel}; the end "
                                   f"of its console: {_tail(host['console'])}")
            if not _vm_alive(host) or time.monotonic() > deadline:
                why = "stopped" if not _vm_alive(host) else "did not start its containers in time"
                raise LabError(f"VM {host['vm']} {why}; the end of its console: {_tail(host['console'])} "
                               f"(qemu: {_tail(os.path.join(lab['dir'], host['vm'] + '.qemu.out'))})")
            time.sleep(0.05)
        for container in [c for c in lab["containers"] if c["host"] == n]:
            state = os.path.join(host["share"], container["name"] + ".json")
            if not os.path.exists(state):
                run = _tail(os.path.join(host["share"], f"run-{container['name']}.out")).strip()
                modprobe = _tail(os.path.join(host["share"], "modprobe.log")).strip()
                raise LabError(f"pynet run of {container['name']} on VM {host['vm']}: {run or 'failed'}"
                               + (f" (modprobe: {modprobe})" if modprobe else ""))
            with open(state) as f:
                made = json.load(f)
            container.update(address=made["result"]["ips"][0]["address"], holder=made["holder"]["pid"])
            if not host["container"]:
                host.update(container=container["name"], address=container["address"], holder=container["holder"])
        host["container_s"] = round(time.monotonic() - start, 2)
        hosts._write(lab)


def ping_script(holder: int, addresses: list[str], tries: int = 150) -> str:
    """Ping each address once from the container whose holder is `holder`, retrying (the member daemons catch up)."""
    return "".join(f"""i=0
until nsenter -t {holder} -n ping -c1 -W1 {a} >/dev/null; do
  i=$((i+1)); [ $i -lt {tries} ] || {{ echo "cannot reach {a}"; exit 1; }}; sleep 0.1
done
echo "reached {a}"
""" for a in addresses)


def _prove(lab: dict, start: float) -> float:
    """Every container pings every other of its network (all VMs at once); seconds from `start` to the
    first VM done."""
    sent = []
    for n, host in enumerate(lab["hosts"], 1):
        script = "".join(ping_script(c["holder"], [o["address"].split("/")[0] for o in lab["containers"]
                                                   if o is not c and o["network"] == c["network"]])
                         for c in lab["containers"] if c["host"] == n)
        if script:
            channel = Channel(host["share"])
            sent.append((host, channel, channel.send(script)))
    first = None
    for host, channel, ident in sent:
        try:
            code, out = channel.wait(ident, 120, alive=lambda: _vm_alive(host))
        except ChannelTimeout as e:
            raise LabError(f"the pings from VM {host['vm']}'s containers: {e}") from None
        if code:
            logs = " ".join(_tail(os.path.join(host["share"], f"member-{name}.log")) for name in lab["networks"])
            raise LabError(f"VM {host['vm']}: {out.strip()[-300:]} (the end of its member daemons' logs: {logs})")
        first = first or round(time.monotonic() - start, 2)
    return first


def _leases(lab: dict) -> dict:
    """Subnet -> underlay address, as etcd has them (read from inside the underlay namespace)."""
    from ..kernel.netns import entered
    from ..plugins.overlay.cluster import leases, open_store
    from ..plugins.overlay.config import parse_netconf
    from ..spec.config import parse_config

    conf = parse_netconf(parse_config({"cniVersion": "1.0.0", **lab["config"], "type": "overlay"}))
    try:
        with entered(f"/run/netns/{lab['underlay']}"):
            return {s: r["underlay"] for s, r in sorted(leases(open_store(conf.store), conf).items())}
    except Exception as e:  # noqa: BLE001 - the report says so; the lab works
        return {"error": str(e)}


def status(lab: dict) -> dict:
    """lab.json plus what is alive now: processes, VMs, each VM's routes to its peers (asked inside the
    VM) and `running` (status.running) beside what was asked."""
    lab["alive"] = [pid for pid in lab.get("pids", []) if hosts.alive(pid)]
    configs = networks(lab)
    script = "".join(f"echo '== {name}'; ip -4 route show dev {device_of(config)}\n"
                     for name, config in configs.items())
    script += f"echo '== ps'; {shlex.quote(hosts._tool('pynet'))} --format json ps -a\n"
    routes, listed = {}, {}
    for n, host in enumerate(lab["hosts"], 1):
        host["running"], host["peers"] = _vm_alive(host), []
        try:
            out = Channel(host["share"]).run(script, timeout=60, alive=lambda: _vm_alive(host))[1] \
                if host["running"] else ""
        except ChannelTimeout:
            out = ""
        sections = dict(part.split("\n", 1) for part in ("\n" + out).split("\n== ")[1:] if "\n" in part)
        for name in configs:
            routes[n, name] = peers_in(sections.get(name, ""))
        host["peers"] = routes[n, lab["network"]]
        try:
            listed[n] = json.loads(sections["ps"])
        except (KeyError, ValueError):
            listed[n] = None
    lab["running"] = running(lab, listed.get, routes)
    lab["leases"] = _leases(lab)
    return lab


def on(lab: dict, host: int, argv: list[str]) -> int:
    """`pynet ARGV` in VM `host`, its output as it comes; its exit status."""
    vm = lab["hosts"][host - 1]
    if not _vm_alive(vm):
        raise LabError(f"VM {vm['vm']} is not running (console: {vm['console']})")
    script = f"exec {shlex.quote(hosts._tool('pynet'))} {' '.join(shlex.quote(a) for a in argv)}\n"
    channel = Channel(vm["share"])
    ident = channel.send(script)
    try:
        code, _ = channel.wait(ident, float("inf"),
                               stream=lambda text: (sys.stdout.write(text), sys.stdout.flush()),
                               alive=lambda: _vm_alive(vm))
    except ChannelTimeout as e:
        raise LabError(f"VM {vm['vm']}: {e}") from None
    return code
