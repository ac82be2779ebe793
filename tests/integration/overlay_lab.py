"""Simulated hosts for overlay tests: host namespaces joined by an underlay bridge that lives in a
namespace of its own (never the root one), each host with its own PYNET_STATE_DIR; an etcd server
on demand. Everything is removed by the fixtures that use these helpers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

import pytest

from cni.kernel.netns import entered, kill_all_in
from tests.netns import plugin_path, run_plugin

OVERLAY = plugin_path("overlay")
UNDERLAY_NET = "192.168.77"


def etcd_missing() -> str:
    """Why no etcd server can run here ("" if one can)."""
    return "" if shutil.which("etcd") else "etcd is not installed (apt-get install etcd-server)"


@dataclass
class Host:
    ns: object  # tests.netns.Netns
    address: str
    state_dir: str
    run_dir: str
    containers: dict = field(default_factory=dict)  # name -> (Netns, result)

    @property
    def env(self) -> dict:
        return {"PYNET_STATE_DIR": self.state_dir, "PYNET_RUN_DIR": self.run_dir}


class Underlay:
    """An underlay bridge `ulbr` in namespace `ns`; hosts get 192.168.77.N on their `ul0`."""

    address = f"{UNDERLAY_NET}.254"  # the bridge's own address: the store's, if any

    def __init__(self, make_netns, tmp_path, mtu: int = 1500) -> None:
        self.make_netns, self.tmp_path, self.mtu = make_netns, tmp_path, mtu
        # the fast-path agents' sockets (one per host namespace): short path, removed by close()
        self.run_dir = tempfile.mkdtemp(prefix="pnr")
        self.ns = make_netns("u")
        # a fixed MAC: a bridge borrowing its ports' lowest MAC changes it as hosts join (stale ARP for etcd)
        self.ns.run("ip", "link", "add", "ulbr", "address", "02:00:c0:a8:4d:fe", "type", "bridge")
        self.ns.run("ip", "link", "set", "ulbr", "mtu", str(mtu), "up")
        self.ns.run("ip", "link", "set", "lo", "up")
        self.ns.run("ip", "addr", "add", f"{self.address}/24", "dev", "ulbr")  # where etcd listens
        self.hosts: list[Host] = []

    def close(self) -> None:
        """Stop what runs in the hosts (a fast-path agent still starting would recreate run_dir), then
        remove run_dir; the namespaces themselves go with make_netns."""
        for host in self.hosts:
            kill_all_in(host.ns.path)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def add_host(self) -> Host:
        n = len(self.hosts) + 1
        ns = self.make_netns(f"h{n}")
        self.ns.run("ip", "link", "add", f"port{n}", "mtu", str(self.mtu), "type", "veth", "peer", "name", "ul0",
                    "netns", ns.name)
        self.ns.run("ip", "link", "set", f"port{n}", "master", "ulbr", "up")
        ns.run("ip", "link", "set", "ul0", "mtu", str(self.mtu), "up")
        ns.run("ip", "addr", "add", f"{UNDERLAY_NET}.{n}/24", "dev", "ul0")
        host = Host(ns, f"{UNDERLAY_NET}.{n}", str(self.tmp_path / f"state{n}"), self.run_dir)
        self.hosts.append(host)
        return host


def cni(host: Host, container, command: str, config: dict, cid: str = "", **kw):
    """Run pynet-overlay on `host` for `container`, as a runtime on that host would."""
    return run_plugin(OVERLAY, command, config, netns=container.path, container_id=cid or container.name,
                      host=host.ns.name, env={**host.env, **kw.pop("env", {})}, **kw)


def attach(host: Host, make_netns, config: dict, name: str = "") -> dict:
    """A new container on `host`, ADDed to the overlay; returns the result."""
    container = make_netns(name or "c")
    added = cni(host, container, "ADD", config)
    assert added.ok, added.stdout + added.stderr
    result = added.json
    host.containers[container.name] = (container, result)
    return result


def address_of(result: dict) -> str:
    return result["ips"][0]["address"].split("/")[0]


def ping(container, address: str, *extra: str) -> subprocess.CompletedProcess:
    return container.run("ping", "-c1", "-W2", *extra, address, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    """A throwaway etcd (temp data dir) in namespace `ns` on `address` (the underlay, so every host
    reaches it), stopped by stop()."""

    def __init__(self, ns, address: str) -> None:
        if etcd_missing():  # the test needs one: skipped, with the reason
            pytest.skip(etcd_missing())
        self.ns = ns
        self.data = tempfile.mkdtemp(prefix="pynet-etcd-")
        client, peer = free_port(), free_port()
        self.url = f"http://{address}:{client}"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, "etcd", "--data-dir", self.data, "--listen-client-urls", self.url,
             "--advertise-client-urls", self.url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
             f"http://127.0.0.1:{peer}", "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("etcd did not start")

    def healthy(self) -> bool:
        with entered(self.ns.path):  # the socket belongs to the namespace it is made in
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return True
            except OSError:
                return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


PYNET = os.path.join(os.path.dirname(OVERLAY), "pynet")


class Members:
    """The member daemons (`pynet overlay member`), one per (host, network); stop_all() kills what is left."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.procs: dict[tuple[str, str], subprocess.Popen] = {}

    def start(self, host: Host, network: str = "ov1", interval: float | None = 0.2) -> subprocess.Popen:
        """`interval` None: the daemon's default (5 s with etcd: only its watch makes it quick)."""
        log = open(self.tmp_path / f"member-{host.ns.name}-{network}.log", "ab")
        env = {"PATH": os.environ["PATH"], **host.env}
        every = ["--interval", str(interval)] if interval is not None else []
        proc = subprocess.Popen(["ip", "netns", "exec", host.ns.name, PYNET, "overlay", "member", "--network", network,
                                 *every], stdout=log, stderr=log, env=env)
        log.close()
        self.procs[(host.ns.name, network)] = proc
        return proc

    def kill(self, host: Host, network: str = "ov1", sig: int = signal.SIGKILL) -> int:
        proc = self.procs.pop((host.ns.name, network))
        proc.send_signal(sig)
        return proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.procs.clear()


def wait_for(predicate, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until `predicate()` held, or None if it did not within `timeout`."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(step)


def routes(host: Host, device: str = "pnx4242") -> list[str]:
    out = host.ns.run("ip", "-4", "route", "show", "dev", device, check=False).stdout
    return [line.split()[0] for line in out.splitlines() if " via " in line]


# --- fixtures (imported by the overlay test modules) ---

@pytest.fixture
def underlay(make_netns, tmp_path):
    lab = Underlay(make_netns, tmp_path)
    yield lab
    lab.close()


@pytest.fixture(params=["file", "etcd"])
def store(request, tmp_path, underlay):
    if request.param == "file":
        yield {"type": "file", "path": str(tmp_path / "store.json")}
        return
    etcd = Etcd(underlay.ns, underlay.address)
    try:
        yield {"type": "etcd", "endpoints": [etcd.url]}
    finally:
        etcd.stop()


@pytest.fixture
def members(tmp_path):
    started = Members(tmp_path)
    yield started
    started.stop_all()


def overlay_conf(store, **extra) -> dict:
    return {"cniVersion": "1.1.0", "name": "ov1", "type": "overlay", "vni": 4242, "network": "10.244.0.0/16",
            "subnetLen": 24, "underlay": "ul0", "store": store, **extra}


