"""The overlay on a three-member etcd cluster speaking TLS with client certificates (`pynet lab up
--store etcd --etcd-members 3 --etcd-tls`): losing the leader in the middle of 50 ADDs across the
hosts costs none of them, nor DELs, nor a host leaving and joining again; with two members down an
ADD fails with code 11 and changes nothing on the host; a member back, ADDs work again. `lab down`
leaves nothing."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import time

import pytest

from cni.kernel.netns import alive
from cni.lab import etcd
from tests.integration.lab_cli import Lab
from tests.integration.overlay_lab import etcd_missing, wait_for
from tests.netns.state import snapshot

pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(etcd_missing()), reason=etcd_missing())]

ADDS = 50


def host_state(lab: Lab, n: int) -> dict:
    """Host n's kernel state (tests.netns.state) and its containers."""
    ns = f"{lab.prefix}h{n}"
    state = snapshot(lambda *argv, check=True: subprocess.run(["ip", "netns", "exec", ns, *argv], check=check,
                                                                capture_output=True, text=True))
    return {**state, "containers": sorted(c["name"] for c in json.loads(lab.on(n, "--format", "json", "ps", "-a").stdout))}


def peers(lab: Lab, n: int) -> list[str]:
    """The subnets host n routes to other hosts."""
    return json.loads(lab.pynet("--format", "json", "lab", "status").stdout)["hosts"][n - 1]["peers"]


@pytest.fixture
def lab():
    made = Lab("--hosts", "2", "--store", "etcd", "--etcd-members", "3", "--etcd-tls")
    yield made
    members = [m["pid"] for m in made.desc["etcd"]["members"]]
    made.down()
    assert not os.path.exists(made.dir)  # etcd's data and the lab's keys included
    assert not [n for n in os.listdir("/run/netns") if n.startswith(made.prefix)]
    assert not [pid for pid in members if alive(pid)]


def test_a_cluster_member_lost_costs_no_add_two_lost_stop_adds_cleanly(lab):
    cluster = lab.desc["etcd"]
    config = lab.desc["config"]["store"]
    assert len(config["endpoints"]) == 3 and all(e.startswith("https://") for e in config["endpoints"])
    assert {"cacert", "cert", "key"} <= config.keys()

    def add(i: int) -> subprocess.CompletedProcess:
        return lab.on(1 + i % 2, "run", "-d", "--name", f"w{i}", "--network", "lab", "--", "sleep", "300", check=False)

    leader = etcd.leader(cluster)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        runs = [pool.submit(add, i) for i in range(ADDS)]
        while sum(r.done() for r in runs) < 10:
            time.sleep(0.05)
        etcd.kill(cluster, leader)
        in_flight = ADDS - sum(r.done() for r in runs)
        failed = [r.result().stderr for r in runs if r.result().returncode]
    assert failed == [] and in_flight > 0, failed[:3]
    survivors = [i for i in range(3) if i != leader]
    print(f"leader m{leader} killed with {in_flight} of {ADDS} ADDs to go; all {ADDS} done; "
          f"new leader m{etcd.leader(cluster)}")
    # DELs, and membership changes: host 2 leaves (its last container gone), then joins again
    assert len(peers(lab, 1)) == 1
    lab.on(2, "rm", "-f", lab.container(2), *(f"w{i}" for i in range(1, ADDS, 2)))
    assert wait_for(lambda: peers(lab, 1) == [], 5) is not None, "host 1 still routes to host 2"
    lab.on(2, "run", "-d", "--name", "back", "--network", "lab", "--", "sleep", "300")
    assert wait_for(lambda: len(peers(lab, 1)) == 1, 5) is not None, "host 1 never saw host 2 join again"
    lab.on(1, "exec", lab.container(1), "ping", "-c1", "-W2", "back")

    # most of the cluster gone: a clear code 11, and nothing on the host changes
    etcd.kill(cluster, survivors[0])
    before = host_state(lab, 1)
    refused = lab.on(1, "run", "-d", "--name", "late", "--network", "lab", "--", "sleep", "300", check=False)
    assert refused.returncode != 0 and "unreachable" in refused.stderr and "Traceback" not in refused.stderr
    assert host_state(lab, 1) == before

    # a member back: the cluster has a majority again, and ADDs work
    etcd.restart(cluster, leader)
    deadline = time.monotonic() + 30
    while not etcd.healthy(cluster, cluster["members"][survivors[1]]):
        assert time.monotonic() < deadline, "the cluster did not recover"
        time.sleep(0.2)
    again = lab.on(1, "run", "-d", "--name", "late", "--network", "lab", "--", "sleep", "300", check=False)
    assert again.returncode == 0, again.stderr
    lab.on(2, "exec", "back", "ping", "-c1", "-W2", "late")  # by name, across the overlay


def test_a_client_without_the_certificate_is_refused_clearly(lab, tmp_path):
    """The cluster wants client certificates: a configuration without them is code 7, naming the TLS files."""
    from cni.plugins.overlay.cluster import open_store
    from cni.plugins.overlay.config import parse_store
    from cni.spec import CNIError
    from cni.kernel.netns import entered

    store = lab.desc["config"]["store"]
    with entered(f"/run/netns/{lab.desc['etcd']['ns']}"):
        assert open_store(parse_store(store)).list("/pynet/overlay/leases/")  # with them: the hosts' leases
        with pytest.raises(CNIError) as refused:
            open_store(parse_store({"type": "etcd", "endpoints": store["endpoints"], "cacert": store["cacert"]})) \
                .list("/pynet/overlay/")
    assert refused.value.code == 7 and "--cert" in refused.value.details
