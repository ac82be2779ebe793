"""Two simulated hosts on one machine (network namespaces, each driven through `pynet` with its own
state and run directories), each with a DNS-enabled network of the same name and subnet: each host
has a DNS server of its own, in its own namespace, that answers its own containers' names only, and
removing one host's containers stops that host's server alone."""

from __future__ import annotations

import os

import pytest

from tests.integration.simhost import SimHost
from tests.netns import wait_until

pytestmark = pytest.mark.root


@pytest.fixture
def hosts(make_netns, tmp_path, token):
    made = [SimHost(make_netns(role), tmp_path / role, token) for role in ("a", "b")]
    yield made
    for host in made:
        host.kill_all()


def resolves(host: SimHost, container: str, name: str) -> bool:
    done = host.pynet("exec", container, "getent", "hosts", name, check=False)
    assert done.returncode in (0, 2), done.stderr  # 2: not found (NXDOMAIN)
    return done.returncode == 0


def test_each_host_serves_its_own_names_and_its_server_goes_with_its_containers(hosts):
    a, b = hosts
    for host, names in ((a, ("web", "api")), (b, ("db", "cache"))):
        host.pynet("create", "bridge", "mynet", "--subnet", "10.126.0.0/24")  # the same on both
        for name in names:
            host.pynet("run", "-d", "--name", name, "--network", "mynet", "--", "sleep", "300")
    pids = [a.dns_server(), b.dns_server()]
    assert None not in pids and pids[0] != pids[1], pids
    for host, pid in zip(hosts, pids):  # each server lives in its own host's namespace
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(host.ns.path).st_ino
    assert [resolves(a, "web", n) for n in ("api", "db", "cache")] == [True, False, False]
    assert [resolves(b, "db", n) for n in ("cache", "web", "api")] == [True, False, False]
    a.pynet("rm", "-f", "web", "api")
    wait_until(lambda: a.dns_server() is None, "host a's DNS server to leave")
    assert b.dns_server() == pids[1]
    assert resolves(b, "db", "cache") and not resolves(b, "db", "web")
    b.pynet("rm", "-f", "db", "cache")
    wait_until(lambda: b.dns_server() is None, "host b's DNS server to leave")
