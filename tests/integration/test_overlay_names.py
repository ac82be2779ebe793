"""Names across an overlay's hosts, as on Docker's overlay networks: a two-host lab (`pynet lab up`,
whose overlay `pynet create overlay` made with dnsname), where a container on one host resolves and
reaches one on the other by name and alias; a host that leaves, or whose lease runs out, takes its
names with it."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.lab_cli import PYNET, Lab
from tests.integration.overlay_lab import etcd_missing, wait_for

pytestmark = pytest.mark.root

FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())"
LEASE_TTL = 10  # the lab's


@pytest.fixture
def lab(request):
    made = Lab("--hosts", "2", "--store", request.param)
    yield made
    made.down()


@pytest.mark.parametrize("lab", ["file", pytest.param("etcd", marks=pytest.mark.skipif(
    bool(etcd_missing()), reason=etcd_missing()))], indirect=True)
def test_a_container_resolves_and_reaches_another_host_by_name(lab, tmp_path):
    # lab up pinged every container from every other by name; here the answers themselves
    assert lab.resolves(1, lab.container(2)) == lab.address(2)
    assert lab.resolves(2, f"{lab.container(1)}.dns.pynet") == lab.address(1)
    (tmp_path / "index.html").write_text("hello from host 2\n")
    lab.on(2, "run", "-d", "--name", "web", "--network", "lab", "--network-alias", "www", "--",
           "python3", "-m", "http.server", "80", "--directory", str(tmp_path))

    def fetched() -> bool:  # a container started later: resolvable on the other host once the member daemons synced
        done = lab.on(1, "exec", lab.container(1), "python3", "-c", FETCH, "http://www/", check=False)
        return done.stdout == "hello from host 2\n"
    took = wait_for(fetched, 10, step=0.1)
    assert took is not None, "host 1 never fetched http://www/ from host 2"
    print(f"a name on host 2 fetched from host 1 {took:.2f} s after `pynet run` returned")
    # host 2 leaves: its last container goes; its names go from host 1 and from the store
    lab.on(2, "rm", "-f", "web", lab.container(2))
    assert wait_for(lambda: lab.resolves(1, lab.container(2)) == "" and lab.resolves(1, "www") == "", 5) is not None
    assert lab.resolves(1, lab.container(1)) == lab.address(1)
    assert lab.records(2) == [] and len(lab.records(1)) == 1
    if lab.desc["store"] == "file":
        assert [k.split("/")[-2] for k in lab.store_names()] == [lab.desc["hosts"][0]["underlay"]]


@pytest.mark.parametrize("lab", ["file"], indirect=True)
def test_a_host_whose_lease_runs_out_loses_its_names_until_its_member_is_back(lab):
    assert lab.resolves(1, lab.container(2)) == lab.address(2)
    member = lab.desc["hosts"][1]["member"]  # host 2's member daemon; its container stays
    os.kill(member, 9)
    took = wait_for(lambda: lab.resolves(1, lab.container(2)) == "", LEASE_TTL + 5, step=0.2)
    assert took is not None, f"host 2's name outlived its lease ({LEASE_TTL} s)"
    print(f"host 2's name gone from host 1 {took:.1f} s after its member daemon died (lease TTL {LEASE_TTL} s)")
    assert lab.store_names() == [k for k in lab.store_names() if lab.desc["hosts"][0]["underlay"] in k]
    member = subprocess.Popen([PYNET, "lab", "on", "2", "--", "overlay", "member", "--network", "lab",
                               "--interval", "0.2"], env=lab.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: lab.resolves(1, lab.container(2)) == lab.address(2), 10) is not None
    finally:
        member.kill()
        member.wait()
