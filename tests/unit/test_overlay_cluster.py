"""The overlay's store logic on the file store (no root, no kernel): registration, leases, TTLs."""

from __future__ import annotations

import time

import pytest

from cni.plugins.overlay.cluster import leases, register, release, take_lease, vtep_mac
from cni.plugins.overlay.config import OverlayConf, parse_store
from cni.plugins.overlay.store import FileStore
from cni.spec import CNIError


def conf(tmp_path, **kw) -> OverlayConf:
    import ipaddress

    values = {"name": "ov1", "vni": 42, "network": ipaddress.IPv4Network("10.244.0.0/16"), "subnet_len": 24,
              "port": 4789, "underlay": "ul0", "mtu": 0, "lease_ttl": 60, "bridge": "pno42", "device": "pnx42",
              "state_dir": str(tmp_path), "store": parse_store({"type": "file", "path": str(tmp_path / "s.json")})}
    values.update(kw)
    if isinstance(values["network"], str):
        values["network"] = ipaddress.IPv4Network(values["network"])
    return OverlayConf(**values)


def test_leases_are_per_host_and_renewed(tmp_path):
    c, store = conf(tmp_path), FileStore(str(tmp_path / "s.json"))
    a, new_a = take_lease(store, c, "192.0.2.1")
    b, new_b = take_lease(store, c, "192.0.2.2")
    again, new_again = take_lease(store, c, "192.0.2.1")
    assert (a["subnet"], b["subnet"], again["subnet"]) == ("10.244.0.0/24", "10.244.1.0/24", "10.244.0.0/24")
    assert (new_a, new_b, new_again) == (True, True, False)
    assert a["vtepMac"] == vtep_mac("192.0.2.1", 42) == "02:2a:c0:00:02:01"
    release(store, c, a["subnet"])
    assert list(leases(store, c)) == ["10.244.1.0/24"]


def test_expired_lease_is_free_and_its_host_prefers_it_back(tmp_path):
    c, store = conf(tmp_path, lease_ttl=1), FileStore(str(tmp_path / "s.json"))
    take_lease(store, c, "192.0.2.1")
    take_lease(store, c, "192.0.2.2")
    time.sleep(1.2)
    assert leases(store, c) == {}
    back, new = take_lease(store, c, "192.0.2.2", prefer="10.244.1.0/24")
    assert back["subnet"] == "10.244.1.0/24" and new
    first, _ = take_lease(store, c, "192.0.2.3")
    assert first["subnet"] == "10.244.0.0/24"


def test_full_network(tmp_path):
    c, store = conf(tmp_path, network="10.250.0.0/24", subnet_len=25), FileStore(str(tmp_path / "s.json"))
    take_lease(store, c, "192.0.2.1")
    take_lease(store, c, "192.0.2.2")
    with pytest.raises(CNIError) as e:
        take_lease(store, c, "192.0.2.3")
    assert e.value.code == 103 and "10.250.0.128/25 (192.0.2.2)" in e.value.details


def test_registration_refuses_overlap_and_vni_reuse(tmp_path):
    store = FileStore(str(tmp_path / "s.json"))
    register(store, conf(tmp_path))
    register(store, conf(tmp_path))  # again: the same
    with pytest.raises(CNIError, match="overlaps"):
        register(store, conf(tmp_path, name="ov2", vni=7, network="10.244.5.0/24"))
    with pytest.raises(CNIError, match="vni 42"):
        register(store, conf(tmp_path, name="ov2", network="10.9.0.0/16"))
    register(store, conf(tmp_path, name="ov2", vni=7, network="10.9.0.0/16"))
    # settings change only while no host holds a lease
    take_lease(store, conf(tmp_path), "192.0.2.1")
    with pytest.raises(CNIError, match="other settings"):
        register(store, conf(tmp_path, port=8472))


def test_a_network_is_encrypted_on_every_host_or_on_none(tmp_path):
    store = FileStore(str(tmp_path / "s.json"))
    register(store, conf(tmp_path, encrypt=True, port=51820))
    lease, _ = take_lease(store, conf(tmp_path, encrypt=True), "192.0.2.1", public_key="k" * 43 + "=")
    assert lease["wgKey"] == "k" * 43 + "="  # the public half only: the store never sees a private key
    with pytest.raises(CNIError, match="is encrypted on the other hosts") as refused:
        register(store, conf(tmp_path, port=51820))
    assert refused.value.code == 7 and '"encrypt": true' in refused.value.details
    again, new = take_lease(store, conf(tmp_path, encrypt=True), "192.0.2.1", public_key="n" * 43 + "=")
    assert (again["subnet"], again["wgKey"], new) == (lease["subnet"], "n" * 43 + "=", False)  # a rotated key


def test_registration_returns_its_undo(tmp_path):
    """A failed first ADD takes back the record it wrote; a record that was there stays."""
    store, c = FileStore(str(tmp_path / "s.json")), conf(tmp_path)
    undo = register(store, c)
    assert register(store, c) is None  # already registered: nothing to undo
    undo()
    assert store.list("/pynet/overlay/networks/") == {}
    register(store, c)
    changed = register(store, conf(tmp_path, port=8472))  # no lease held: the settings may change
    changed()
    assert store.list("/pynet/overlay/networks/")["/pynet/overlay/networks/ov1"]["port"] == 4789
    undo = register(store, conf(tmp_path, name="ov2", vni=7, network="10.9.0.0/16"))
    take_lease(store, conf(tmp_path, name="ov2", vni=7, network="10.9.0.0/16"), "192.0.2.1")
    undo()  # a host joined with the record meanwhile: it stays
    assert "/pynet/overlay/networks/ov2" in store.list("/pynet/overlay/networks/")


def test_file_store_create_is_compare_and_set(tmp_path):
    store = FileStore(str(tmp_path / "s.json"))
    assert store.create("/k", {"v": 1}, ttl=None) and not store.create("/k", {"v": 2})
    assert store.list("/") == {"/k": {"v": 1}}
    assert not store.refresh("/missing", 5) and store.refresh("/k", 5)
    store.delete("/k")
    assert store.list("/") == {}


def test_pynet_create_overlay_writes_a_checked_conflist(tmp_path):
    import json

    from cni.containers.netadmin import NetworkError, OverlayOptions, create_sublink
    from cni.containers.netadmin import create_overlay as create
    from cni.plugins.overlay.config import conf_problem

    def create_overlay(*args):
        return create(*args, check=conf_problem)

    conf_dir = str(tmp_path / "net.d")
    net = create_overlay("ov1", OverlayOptions(vni=42, network="10.244.0.0/16", underlay="eth1",
                                               etcd=("http://10.0.0.1:2379",)), conf_dir)
    plugin = json.loads(open(net.path).read())["plugins"][0]
    from cni.containers.netadmin import bridge_of, network_subnets

    assert bridge_of(net) == "pno42" and [str(s) for s in network_subnets(net)] == ["10.244.0.0/16"]
    assert plugin == {"type": "overlay", "vni": 42, "network": "10.244.0.0/16", "subnetLen": 24,  # the port: the plugin's
                      "underlay": "eth1", "store": {"type": "etcd", "endpoints": ["http://10.0.0.1:2379"]}}
    with pytest.raises(NetworkError, match="16777215"):
        create_overlay("ov2", OverlayOptions(vni=2**24, network="10.9.0.0/16", underlay="eth1"), conf_dir)
    with pytest.raises(NetworkError, match="overlaps network 'ov1'"):
        create_overlay("ov3", OverlayOptions(vni=7, network="10.244.128.0/17", underlay="eth1"), conf_dir)
    with pytest.raises(NetworkError, match="overlaps network 'ov1'"):
        create_sublink("macvlan", "lan", "lo", "10.244.9.0/24", conf_dir=conf_dir)


def test_pynet_overlay_member_keeps_its_former_name_agent():
    from cni.cli.main import parser
    from cni.cli.overlay import command_member

    for name in ("member", "agent"):
        args = parser().parse_args(["overlay", name, "--network", "ov1", "--interval", "2"])
        assert args.run is command_member and args.network == "ov1" and args.interval == 2
