"""`pynet lab up -f examples/lab-vm.yaml`: two VMs, a VXLAN overlay and one encrypted (WireGuard, which
the VMs' kernel has) come up as the file says: `lab status --format json` reports every container
running on its host with an address of its network, each VM routing to the other's subnet on both
networks (pnx50, and pnw60: WireGuard's device); the published port answers from the underlay; the
encrypted network's containers reach each other; `lab down` leaves nothing."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import subprocess
import sys
import tempfile

import pytest

from cni.kernel.netns import alive
from cni.lab.image import missing
from cni.lab.topology import parse
from tests.integration.overlay_lab import etcd_missing, wait_for

pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(missing()), reason=f"no VM: {missing()}"),
              pytest.mark.skipif(bool(etcd_missing()), reason=etcd_missing())]

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "lab-vm.yaml")
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


def test_a_yaml_lab_of_two_vms_with_an_encrypted_network():
    prefix, directory = f"pny{secrets.token_hex(2)}-", tempfile.mkdtemp(prefix="pnlabvm.")
    os.rmdir(directory)
    env = {**os.environ, "PYNET_LAB_DIR": directory, "PYNET_LAB_PREFIX": prefix}

    def pynet(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([PYNET, *argv], capture_output=True, text=True, env=env, timeout=timeout)

    with open(EXAMPLE) as f:
        asked = parse(f.read()).as_dict()
    state = {}
    try:
        up = pynet("--format", "json", "lab", "up", "-f", EXAMPLE, timeout=1200)
        assert up.returncode == 0, up.stderr
        lab = json.loads(up.stdout)
        print(f"lab up -f lab-vm.yaml: {lab['up_s']} s (first ping {lab['first_ping_s']} s)")  # a figure
        assert lab["networks"]["sec"]["encrypt"] and not lab["networks"]["blue"].get("encrypt")
        status = pynet("--format", "json", "lab", "status")
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        assert state["asked"] == asked and sorted(state["alive"]) == sorted(state["pids"])
        now = state["running"]
        assert now["hosts"] == {"h1": {"up": True}, "h2": {"up": True}}
        for name, wanted in asked["containers"].items():
            running = now["containers"][name]
            assert (running["host"], running["network"], running["status"]) == (
                wanted["host"], wanted["network"], "running"), name
            assert ipaddress.ip_interface(running["address"]).ip in ipaddress.ip_network(
                asked["networks"][wanted["network"]]["subnet"]), name
        for network in ("blue", "sec"):  # each VM routes to the other's subnet (sec: on WireGuard's pnw60)
            subnets = {c["host"]: str(ipaddress.ip_interface(c["address"]).network)
                       for c in now["containers"].values() if c["network"] == network}
            assert now["networks"][network] == {"h1": [subnets["h2"]], "h2": [subnets["h1"]]}, network

        # web's port 80, published on VM 2's underlay address, answers from the underlay's namespace
        fetch = ["ip", "netns", "exec", lab["underlay"], sys.executable, "-c", FETCH, "http://192.168.213.2:8080/"]
        answered = wait_for(lambda: "Directory listing" in subprocess.run(fetch, capture_output=True, text=True,
                                                                          timeout=20).stdout, 90, step=1)
        assert answered is not None, "web's published port did not answer"
        s2 = now["containers"]["s2"]["address"].split("/")[0]
        ping = pynet("lab", "on", "1", "--", "exec", f"{prefix}s1", "ping", "-c1", "-W5", s2)
        assert ping.returncode == 0 and "1 received" in ping.stdout, ping.stdout + ping.stderr
    finally:
        down = pynet("lab", "down")
    assert down.returncode == 0, down.stderr
    assert not os.path.exists(directory) and not [p for p in state.get("pids", []) if alive(p)]
    assert not [n for n in os.listdir("/run/netns") if n.startswith(prefix)]
