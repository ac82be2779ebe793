"""`pynet lab up|status|down`: a working multi-host overlay in seconds, and no trace afterwards."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

import pytest

from tests.integration.overlay_lab import etcd_missing

pytestmark = pytest.mark.root

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")


def pynet(*argv: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([PYNET, *argv], capture_output=True, text=True, env=env, timeout=120)


def lab_namespaces(prefix: str) -> list[str]:
    return [n for n in os.listdir("/run/netns") if n.startswith(prefix)] if os.path.isdir("/run/netns") else []


@pytest.mark.parametrize("store,hosts", [
    ("file", 2), pytest.param("etcd", 3, marks=pytest.mark.skipif(bool(etcd_missing()), reason=etcd_missing()))])
def test_lab_up_status_down(store, hosts):
    """With names of its own (PYNET_LAB_PREFIX): other labs may be up."""
    prefix = f"pnl{secrets.token_hex(2)}-"
    directory = tempfile.mkdtemp(prefix="pnlab")
    env = {**os.environ, "PYNET_LAB_DIR": directory, "PYNET_LAB_PREFIX": prefix}
    try:
        start = time.monotonic()
        up = pynet("--format", "json", "lab", "up", "--hosts", str(hosts), "--store", store, env=env)
        took = time.monotonic() - start
        assert up.returncode == 0, up.stderr
        lab = json.loads(up.stdout)
        print(f"lab up with {hosts} hosts and the {store} store: {took:.1f} s")  # a figure, not a check (no timed tests)
        assert len(lab["hosts"]) == hosts and lab["store"] == store
        status = pynet("--format", "json", "lab", "status", env=env)
        state = json.loads(status.stdout)
        assert len(state["alive"]) == len(state["pids"]) == hosts + (store == "etcd")
        assert all(len(h["peers"]) == hosts - 1 for h in state["hosts"])
        assert "every container pinged every other" in pynet("lab", "status", env=env).stdout
        # the containers are the runtime's (pynet run on each host), reachable across the overlay
        ps = json.loads(pynet("lab", "on", str(hosts), "--", "--format", "json", "ps", env=env).stdout)
        assert [(c["name"], c["status"]) for c in ps] == [(f"{prefix}c{hosts}", "running")]
        far = lab["hosts"][-1]["address"].split("/")[0]
        assert pynet("lab", "on", "1", "--", "exec", f"{prefix}c1", "ping", "-c1", far, env=env).returncode == 0
        again = pynet("lab", "up", env=env)
        assert again.returncode == 1 and "lab is up already" in again.stderr
        down = pynet("lab", "down", env=env)
        assert down.returncode == 0
        assert lab_namespaces(prefix) == [] and not os.path.exists(directory)
        for pid in state["pids"]:
            assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
        assert pynet("lab", "status", env=env).returncode == 1
        # --vm with the file store: said clearly, before anything is made (tests/vm/test_lab_up_vm.py boots VMs)
        vm = pynet("lab", "up", "--vm", "--store", "file", env=env)
        assert vm.returncode == 1 and "--vm" in vm.stderr and "Traceback" not in vm.stderr
    finally:
        pynet("lab", "down", env=env)
