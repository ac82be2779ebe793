"""Twenty simulated hosts: `pynet lab up --hosts 20` gives a full mesh (every container pings every
other, from one container per host at once), each host's convergence is recorded, and a host that
joins later is reachable from every other within 2 s of its container being up; it leaves again."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.lab_cli import Lab
from tests.integration.test_lab import lab_namespaces

pytestmark = pytest.mark.root

HOSTS = 20
MESH = 'for a in "$@"; do ping -c1 -W2 -q "$a" >/dev/null 2>&1 || echo "$a"; done'


def peers(lab: Lab) -> list[int]:
    """How many other hosts' subnets each host routes to (`lab status`)."""
    return [len(h["peers"]) for h in json.loads(lab.pynet("--format", "json", "lab", "status").stdout)["hosts"]]


def test_twenty_hosts_full_mesh_and_a_late_joiner():
    lab = Lab("--hosts", str(HOSTS))
    try:
        print(f"lab up with {HOSTS} hosts: {lab.desc['up_s']} s; convergence {lab.desc['convergence']}")
        assert lab.desc["convergence"]["n"] == HOSTS  # every host's entries reached every other host
        addresses = [lab.address(n) for n in range(1, HOSTS + 1)]

        def unreachable(n: int) -> list[str]:
            others = [a for a in addresses if a != addresses[n - 1]]
            return lab.on(n, "exec", lab.container(n), "sh", "-c", MESH, "sh", *others).stdout.split()

        with ThreadPoolExecutor(HOSTS) as pool:
            missed = dict(zip(range(1, HOSTS + 1), pool.map(unreachable, range(1, HOSTS + 1))))
        assert {n: m for n, m in missed.items() if m} == {}
        assert peers(lab) == [HOSTS - 1] * HOSTS

        late = json.loads(lab.pynet("--format", "json", "lab", "join").stdout)
        print(f"host {HOSTS + 1} joined: convergence {late['convergence_s']} s, pings answered after "
              f"{late['reachable_s']} s from the start of its pynet run, {late['reachable_after_run_s']} s after "
              f"it returned")
        # within 2 s of its container being up: the run itself (the runtime's start, the chain) is no part of
        # the overlay's convergence, and takes seconds when other tests load the machine
        assert late["name"] == f"{lab.prefix}h{HOSTS + 1}" and late["reachable_after_run_s"] <= 2.0
        assert "joined later" in lab.pynet("lab", "status").stdout
        # it leaves again: every other host drops its entries (leave checks it), its namespace goes
        lab.pynet("lab", "leave")
        assert f"{lab.prefix}h{HOSTS + 1}" not in lab_namespaces(lab.prefix)
        assert peers(lab) == [HOSTS - 1] * HOSTS
        lab.pynet("lab", "down")
        assert lab_namespaces(lab.prefix) == [] and not os.path.exists(lab.dir)
    finally:
        lab.down()
