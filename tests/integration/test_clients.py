"""Real clients beside Podman: containerd 1.6 (`ctr run --cni`) and buildah 1.28 (`buildah run
--network`, CNI backend) run busybox containers on pynet's plugins alone, on a simulated host with an
outside network behind it (tests/integration/clients.py says how each client is set up). Skipped,
with the reason, where a client, runc or busybox-static is not installed.
"""

from __future__ import annotations

import pytest

from tests.integration.clients import CLIENTS, checked_address, on_simulated_host, running

pytestmark = pytest.mark.root


@pytest.fixture(params=sorted(CLIENTS))
def client(request, make_netns, tmp_path, token):
    with on_simulated_host(request.param, make_netns, tmp_path, token) as made:
        yield made


def veths(client) -> list[str]:
    """The host ends of the containers' links: the ports of the network's bridge."""
    return sorted(name for name, link in client.host.links().items() if link.get("master") == client.bridge)


def ruleset(client) -> str:
    return client.host.run("nft", "list", "ruleset").stdout


def test_a_container_gets_address_route_uplink_and_tuning_from_pynet(client):
    assert client.run("ls", "-A", "/usr/lib/cni").stdout == ""  # the client sees no reference plugin
    with running(client, ["c1"]) as seen:
        ip = checked_address(seen["c1"])
        ports = veths(client)
        assert len(ports) == 1 and ports[0].startswith("pnv"), ports  # pynet's name (the reference's: veth…)
        assert ip in ruleset(client)  # masqueraded through pynet's set
    assert veths(client) == [] and ip not in ruleset(client)
    assert client.leftovers() == []


def test_del_leaves_the_host_as_before_the_first_add(client):
    before = client.host.snapshot()
    with running(client, ["c1"]) as seen:
        checked_address(seen["c1"])
    after = client.host.snapshot()
    assert client.leftovers() == []
    assert after["links"].pop(client.bridge)[1] == ""  # the bridge stays (as with the reference), without ports
    assert after["links"] == before["links"]
    assert [r for r in after["routes"] if client.bridge not in r] == before["routes"]
    assert after["nft"] == before["nft"], f"left in the ruleset:\n{after['nft']}"


def test_concurrent_runs_get_distinct_addresses_and_all_leave(client):
    names = [f"c{i}" for i in range(4)]
    with running(client, names) as seen:
        addresses = {checked_address(seen[name]) for name in names}
        assert len(addresses) == len(names)
        assert len(veths(client)) == len(names)
    assert veths(client) == []
    assert client.leftovers() == []
    rules = ruleset(client)
    assert [ip for ip in addresses if ip in rules] == []
