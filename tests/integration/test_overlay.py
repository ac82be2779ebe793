"""pynet-overlay on simulated hosts (netns) joined by an underlay bridge: real VXLAN, real packets."""

from __future__ import annotations

import pytest

from tests.integration.overlay_lab import Etcd, Underlay, address_of, attach, cni, ping

pytestmark = pytest.mark.root


@pytest.fixture
def underlay(make_netns, tmp_path):
    return Underlay(make_netns, tmp_path)


@pytest.fixture(params=["file", "etcd"])
def store(request, tmp_path, underlay):
    if request.param == "file":
        yield {"type": "file", "path": str(tmp_path / "store.json")}
        return
    etcd = Etcd(underlay.ns, underlay.address)
    try:
        yield {"type": "etcd", "endpoints": [etcd.url]}
    finally:
        etcd.stop()


def overlay_conf(store, **extra) -> dict:
    return {"cniVersion": "1.1.0", "name": "ov1", "type": "overlay", "vni": 4242, "network": "10.244.0.0/16",
            "subnetLen": 24, "underlay": "ul0", "store": store, **extra}


def test_two_hosts_each_add_syncs_remote_entries(store, underlay, make_netns):
    """Without agents: h2's ADD learns h1; h1 learns h2 on its next ADD."""
    config = overlay_conf(store)
    h1, h2 = underlay.add_host(), underlay.add_host()
    r1 = attach(h1, make_netns, config, "a")
    r2 = attach(h2, make_netns, config, "b")
    assert r1["ips"][0]["address"] == "10.244.0.2/24" and r2["ips"][0]["address"] == "10.244.1.2/24"
    assert r1["interfaces"][2]["mtu"] == 1450  # underlay 1500 - 50
    (c1, _), = h1.containers.values()
    (c2, _), = h2.containers.values()
    assert ping(c2, address_of(r1)).returncode != 0  # h1 has no way back to h2 yet
    r3 = attach(h1, make_netns, config, "a")
    assert r3["ips"][0]["address"] == "10.244.0.3/24"
    assert ping(c2, address_of(r1)).returncode == 0
    assert ping(c1, address_of(r2)).returncode == 0
