"""`pynet lab up --vm`: two qemu VMs on the underlay, etcd, an agent and a `pynet run` container in each,
pinging each other across the overlay; reachable afterwards (`lab on`, `lab status`); and after
`pynet lab down` nothing is left: no namespace, qemu, etcd, tap or file."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

import pytest

from cni.kernel.netns import alive
from cni.lab.image import missing
from tests.integration.overlay_lab import etcd_missing

pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(missing()), reason=f"no VM: {missing()}"),
              pytest.mark.skipif(bool(etcd_missing()), reason=etcd_missing())]

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")


def pynet(*argv: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PYNET, *argv], capture_output=True, text=True, env=env, timeout=timeout)


def namespaces(prefix: str) -> list[str]:
    return [n for n in os.listdir("/run/netns") if n.startswith(prefix)] if os.path.isdir("/run/netns") else []


def test_lab_up_vm_pings_across_vms_and_down_leaves_nothing():
    prefix = f"pnv{secrets.token_hex(2)}-"  # names of its own: other labs may be up on this machine
    directory = tempfile.mkdtemp(prefix="pnlabvm.")
    os.rmdir(directory)
    env = {**os.environ, "PYNET_LAB_DIR": directory, "PYNET_LAB_PREFIX": prefix}
    state = {}
    try:
        start = time.monotonic()
        # the wait for 2 free VM slots (the VM tests' VMs) is part of the timeout, not of up_s
        up = pynet("--format", "json", "lab", "up", "--vm", env=env, timeout=1200)
        assert up.returncode == 0, up.stderr
        lab = json.loads(up.stdout)
        print(f"lab up --vm: {lab['up_s']} s (first ping {lab['first_ping_s']} s), {time.monotonic() - start:.1f} s "
              "with the wait for VM slots")
        assert lab["vm"] and lab["store"] == "etcd" and len(lab["hosts"]) == 2
        assert [h["underlay"] for h in lab["hosts"]] == ["192.168.213.1", "192.168.213.2"]
        assert sorted(lab["leases"].values()) == ["192.168.213.1", "192.168.213.2"]  # in etcd, one per VM
        assert 0 < lab["first_ping_s"] <= lab["up_s"]

        status = pynet("--format", "json", "lab", "status", env=env)
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        assert len(state["pids"]) == 3 and sorted(state["alive"]) == sorted(state["pids"])  # 2 qemu, etcd
        for host, other in zip(state["hosts"], reversed(state["hosts"])):
            assert host["running"], host
            # the agent in the VM put a route to the other VM's subnet (its lease)
            assert host["peers"] == [s for s, u in state["leases"].items() if u == other["underlay"]]
        assert "every container pinged every other" in pynet("lab", "status", env=env).stdout

        # once more, through `lab on` (pynet in the VM), across the overlay
        far = lab["hosts"][1]["address"].split("/")[0]
        ping = pynet("lab", "on", "1", "--", "exec", f"{prefix}c1", "ping", "-c1", "-W5", far, env=env)
        assert ping.returncode == 0 and "1 received" in ping.stdout, ping.stdout + ping.stderr
        ps = json.loads(pynet("lab", "on", "2", "--", "--format", "json", "ps", env=env).stdout)
        assert [(c["name"], c["status"], c["addresses"]) for c in ps] == [
            (f"{prefix}c2", "running", [lab["hosts"][1]["address"]])]
        assert pynet("lab", "on", "2", "--", "exec", "nosuch", "true", env=env).returncode == 1

        again = pynet("lab", "up", "--vm", env=env)
        assert again.returncode == 1 and "lab is up already" in again.stderr
    finally:
        down = pynet("lab", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert namespaces(prefix) == [] and not os.path.exists(directory)
    assert not [pid for pid in state.get("pids", []) if alive(pid)]  # qemu and etcd
    assert pynet("lab", "status", env=env).returncode == 1


def test_lab_up_vm_that_fails_says_why_and_leaves_nothing():
    """VMs that do not boot in time (here: 1 s) are a clear error, and everything made is removed."""
    prefix = f"pnv{secrets.token_hex(2)}-"
    directory = tempfile.mkdtemp(prefix="pnlabvm.")
    os.rmdir(directory)
    env = {**os.environ, "PYNET_LAB_DIR": directory, "PYNET_LAB_PREFIX": prefix, "PYNET_LAB_VM_BOOT": "1"}
    try:
        up = pynet("lab", "up", "--vm", env=env, timeout=1200)
        # (a line saying it waits for free VM slots may come first, when other VM tests run)
        lines = up.stderr.splitlines()
        assert up.returncode == 1 and any(line.startswith("pynet: VM vm1 did not boot in 1 s") for line in lines), \
            up.stderr
        assert "Traceback" not in up.stderr
        assert namespaces(prefix) == [] and not os.path.exists(directory)
        qemus = subprocess.run(["pgrep", "-f", f"qemu-system-x86_64.*{directory}"], capture_output=True, text=True)
        assert [pid for pid in qemus.stdout.split() if alive(int(pid))] == []
    finally:
        pynet("lab", "down", env=env)
