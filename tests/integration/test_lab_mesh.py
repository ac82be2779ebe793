"""Twenty simulated hosts: `pynet lab up --hosts 20` gives a full mesh (every container pings every
other, from one container per host at once), each host's convergence is recorded, and a host that
joins later is reachable from every other within 2 s of its first ADD; it leaves again."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.test_lab import lab_namespaces, pynet

pytestmark = pytest.mark.root

HOSTS = 20
MESH = 'for a in "$@"; do ping -c1 -W2 -q "$a" >/dev/null 2>&1 || echo "$a"; done'


def test_twenty_hosts_full_mesh_and_a_late_joiner():
    prefix = f"pnm{secrets.token_hex(2)}-"
    directory = tempfile.mkdtemp(prefix="pnlab")
    env = {**os.environ, "PYNET_LAB_DIR": directory, "PYNET_LAB_PREFIX": prefix}
    try:
        up = pynet("--format", "json", "lab", "up", "--hosts", str(HOSTS), env=env, timeout=300)
        assert up.returncode == 0, up.stderr
        lab = json.loads(up.stdout)
        print(f"lab up with {HOSTS} hosts: {lab['up_s']} s; convergence {lab['convergence']}")
        assert lab["convergence"]["n"] == HOSTS  # every host's entries reached every other host
        addresses = [h["address"].split("/")[0] for h in lab["hosts"]]

        def unreachable(n: int) -> list[str]:
            others = [a for a in addresses if a != addresses[n - 1]]
            done = pynet("lab", "on", str(n), "--", "exec", f"{prefix}c{n}", "sh", "-c", MESH, "sh", *others,
                         env=env, timeout=120)
            assert done.returncode == 0, done.stderr
            return done.stdout.split()

        with ThreadPoolExecutor(HOSTS) as pool:
            missed = dict(zip(range(1, HOSTS + 1), pool.map(unreachable, range(1, HOSTS + 1))))
        assert {n: m for n, m in missed.items() if m} == {}
        state = json.loads(pynet("--format", "json", "lab", "status", env=env).stdout)
        assert [len(h["peers"]) for h in state["hosts"]] == [HOSTS - 1] * HOSTS

        joined = pynet("--format", "json", "lab", "join", env=env)
        assert joined.returncode == 0, joined.stderr
        late = json.loads(joined.stdout)
        print(f"host {HOSTS + 1} joined: convergence {late['convergence_s']} s, pings answered after "
              f"{late['reachable_s']} s")
        assert late["name"] == f"{prefix}h{HOSTS + 1}" and late["reachable_s"] <= 2.0
        assert "joined later" in pynet("lab", "status", env=env).stdout
        # it leaves again: every other host drops its entries (checked by leave itself), its namespace goes
        assert pynet("lab", "leave", env=env).returncode == 0
        assert f"{prefix}h{HOSTS + 1}" not in lab_namespaces(prefix)
        state = json.loads(pynet("--format", "json", "lab", "status", env=env).stdout)
        assert [len(h["peers"]) for h in state["hosts"]] == [HOSTS - 1] * HOSTS
        assert len(state["alive"]) == len(state["pids"]) == HOSTS

        assert pynet("lab", "down", env=env).returncode == 0
        assert lab_namespaces(prefix) == [] and not os.path.exists(directory)
    finally:
        pynet("lab", "down", env=env)
