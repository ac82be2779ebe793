"""`pynet lab up --vm --encrypt`: the overlay routed over WireGuard between two VMs on the stock
Debian kernel. Containers ping each other and exchange TCP (HTTP); the underlay carries only WireGuard
(UDP between the WireGuard ports: no VXLAN, no container address, no ICMP in clear); no host's
private key is in etcd, a result or a log; a key rotation keeps a ping running; a leaving host is
removed as a peer; `lab down` leaves nothing."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from cni.kernel.netns import alive, entered
from cni.lab.channel import Channel
from cni.lab.image import missing
from cni.plugins.overlay.etcd import EtcdStore
from tests.integration.overlay_lab import etcd_missing, wait_for
from tests.netns.sniff import capture

pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(missing()), reason=f"no VM: {missing()}"),
              pytest.mark.skipif(bool(etcd_missing()), reason=etcd_missing())]

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")
WIREGUARD_PORT = 51820
FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())"


class VmLab:
    def __init__(self) -> None:
        self.prefix = f"pne{secrets.token_hex(2)}-"
        self.dir = tempfile.mkdtemp(prefix="pnlabvm.")
        os.rmdir(self.dir)
        self.env = {**os.environ, "PYNET_LAB_DIR": self.dir, "PYNET_LAB_PREFIX": self.prefix}
        up = self.pynet("--format", "json", "lab", "up", "--vm", "--encrypt", timeout=1200)
        self.desc = json.loads(up.stdout)

    def pynet(self, *argv: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([PYNET, *argv], capture_output=True, text=True, env=self.env, timeout=timeout)
        assert not check or done.returncode == 0, f"pynet {' '.join(argv)}: {done.stdout}{done.stderr}"
        return done

    def on(self, n: int, *argv: str, **kw) -> subprocess.CompletedProcess:
        return self.pynet("lab", "on", str(n), "--", *argv, **kw)

    def guest(self, n: int, script: str, timeout: float = 120) -> str:
        """`script` run in VM n (in its chroot of this machine's /, pynet's environment set)."""
        code, out = Channel(self.desc["hosts"][n - 1]["share"]).run(script, timeout=timeout)
        assert code == 0, out
        return out

    def address(self, n: int) -> str:
        return self.desc["hosts"][n - 1]["address"].split("/")[0]

    def peers(self, n: int) -> list[str]:
        return json.loads(self.pynet("--format", "json", "lab", "status").stdout)["hosts"][n - 1]["peers"]


@pytest.fixture(scope="module")
def lab():
    made = VmLab()
    yield made
    pids = made.desc.get("pids", [])
    made.pynet("lab", "down", check=False)
    assert not os.path.exists(made.dir) and not [p for p in pids if alive(p)]
    assert not [n for n in os.listdir("/run/netns") if n.startswith(made.prefix)]


def test_only_wireguard_crosses_the_underlay(lab):
    assert lab.desc["config"]["encrypt"] and lab.peers(1) and lab.peers(2)
    lab.on(2, "run", "-d", "--name", "web", "--network", "lab", "--", "python3", "-m", "http.server", "80")
    web = json.loads(lab.on(2, "--format", "json", "inspect", "web").stdout)["addresses"][0].split("/")[0]
    seen: list = []
    sniffer = threading.Thread(target=lambda: seen.extend(  # VM 1's tap: the bridge forwards between its ports
        capture(f"/run/netns/{lab.desc['underlay']}", "tap1", 40)))
    sniffer.start()
    try:
        lab.on(1, "exec", f"{lab.prefix}c1", "ping", "-c5", "-i0.3", lab.address(2))
        fetched = wait_for(lambda: "Directory listing" in lab.on(
            1, "exec", f"{lab.prefix}c1", "python3", "-c", FETCH, f"http://{web}/", check=False).stdout, 60, step=1)
        assert fetched is not None, f"host 1's container never fetched http://{web}/ from host 2"
    finally:
        sniffer.join()
    hosts = {h["underlay"] for h in lab.desc["hosts"]}
    between = [p for p in seen if {p[1], p[2]} <= hosts]
    assert between, "the capture saw nothing between the VMs"
    assert {(proto, sport, dport) for proto, _, _, sport, dport in between} == {
        (17, WIREGUARD_PORT, WIREGUARD_PORT)}, sorted(set(between))  # no VXLAN (4789), no ICMP, no TCP in clear
    assert not [p for p in seen if p[1].startswith("10.213.") or p[2].startswith("10.213.")]


def test_private_keys_never_leave_their_hosts(lab):
    private = [lab.guest(n, "cat /run/pynet/overlay/lab/wg.key").strip() for n in (1, 2)]
    assert all(len(k) == 44 for k in private)
    assert lab.guest(1, "stat -c %a /run/pynet/overlay/lab/wg.key").strip() == "600"
    etcd = lab.pynet("lab", "on", "1", "--", "--format", "json", "overlay", "status", "--network", "lab").stdout
    results = lab.on(1, "--format", "json", "inspect", f"{lab.prefix}c1").stdout
    with entered(f"/run/netns/{lab.desc['underlay']}"):  # everything etcd holds, as a reader of it would see it
        store = json.dumps(EtcdStore(lab.desc["config"]["store"]["endpoints"]).list("/"))
    logs = "".join(open(os.path.join(root, name), errors="replace").read()
                   for root, _, files in os.walk(lab.dir) for name in files if name.endswith((".log", ".out")))
    assert "wgKey" in store and lab.desc["hosts"][0]["underlay"] in store  # the public halves are there
    for key in private:
        for where, text in (("etcd", store), ("overlay status", etcd), ("the result", results), ("a log", logs)):
            assert key not in text, f"a private key is in {where}"


def test_a_key_rotation_keeps_a_ping_running(lab):
    holder = lab.guest(2, f"{PYNET} --format json inspect {lab.prefix}c2")
    pid = json.loads(holder)["holder"]["pid"]
    before = lab.guest(1, "cat /run/pynet/overlay/lab/wg.key").strip()
    share = lab.desc["hosts"][1]["share"]
    channel = Channel(share)
    ping = channel.send(f"nsenter -t {pid} -n ping -c100 -i0.1 -W1 {lab.address(1)}")
    time.sleep(3)
    rotated = lab.on(1, "--format", "json", "overlay", "rotate-key", "--network", "lab")
    code, out = channel.wait(ping, 120)
    received = int(re.search(r"(\d+) received", out).group(1))
    print(f"key rotation during 100 pings at 10/s: {100 - received} lost")
    assert received >= 97, out
    assert lab.guest(1, "cat /run/pynet/overlay/lab/wg.key").strip() != before
    assert json.loads(rotated.stdout)[0]["key"] in lab.on(2, "overlay", "status", "--network", "lab").stdout


def test_a_leaving_host_is_removed_as_a_peer(lab):
    lab.on(2, "rm", "-f", "web", f"{lab.prefix}c2")
    assert wait_for(lambda: lab.peers(1) == [], 30, step=1) is not None, "VM 1 still routes to VM 2"
    out = lab.guest(1, f"{sys.executable} -c 'from cni.kernel import wireguard; from cni.kernel.links import netlink\n"
                       "with netlink() as h: print(len(wireguard.peers(h, \"pnw4213\")))'")
    assert out.strip().splitlines()[-1] == "0"
