"""An overlay's names across hosts on the file store (no root, no kernel): each host publishes its own
records, mirrors those of hosts with a live lease, and drops those of hosts whose lease is gone."""

from __future__ import annotations

import time

from cni.dns import records
from cni.plugins.overlay import names
from cni.plugins.overlay.cluster import release, take_lease
from cni.plugins.overlay.store import FileStore
from tests.unit.test_overlay_cluster import conf

A, B = "192.0.2.1", "192.0.2.2"


def record(name: str, address: str, cid: str = "") -> records.Attachment:
    return records.Attachment(network="ov1", containerId=cid or name, ifname="eth0", names=[name, f"{name}-alias"],
                              addresses=[f"{address}/24"], gateways=[address.rsplit(".", 1)[0] + ".1"],
                              domainName="dns.pynet")


def peers(where) -> dict[str, list[str]]:
    return {a.names[0]: a.addresses for a in records.load(str(where)).values() if a.host}


def hosts(tmp_path, **kw):
    c, store = conf(tmp_path, **kw), FileStore(str(tmp_path / "s.json"))
    dirs = {A: tmp_path / "a", B: tmp_path / "b"}
    for underlay in dirs:
        take_lease(store, c, underlay)
    return c, store, dirs


def test_each_host_answers_the_others_names_and_only_its_own_are_listened_on(tmp_path):
    c, store, dirs = hosts(tmp_path)
    records.write(str(dirs[A]), record("web", "10.244.0.2"))
    records.write(str(dirs[B]), record("db", "10.244.1.2"))
    assert names.sync(store, c, A, str(dirs[A])) == ["names ['web', 'web-alias'] published"]
    names.sync(store, c, B, str(dirs[B]))
    names.sync(store, c, A, str(dirs[A]))
    assert peers(dirs[A]) == {"db": ["10.244.1.2/24"]} and peers(dirs[B]) == {"web": ["10.244.0.2/24"]}
    assert names.sync(store, c, A, str(dirs[A])) == []  # nothing changed: nothing written
    view = records.views(records.load(str(dirs[A])).values())
    assert list(view) == ["10.244.0.1"]  # A listens on its own gateway only, and answers B's names there
    assert view["10.244.0.1"].lookup(b"\x02db\x00", 1)[1]
    assert records.served(records.load(str(dirs[A])).values())
    assert not records.served(a for a in records.load(str(dirs[A])).values() if a.host)


def test_a_removed_container_and_a_leaving_host_take_their_names(tmp_path):
    c, store, dirs = hosts(tmp_path)
    for n, (underlay, where) in enumerate(dirs.items()):
        records.write(str(where), record(f"c{n}", f"10.244.{n}.2"))
        records.write(str(where), record(f"d{n}", f"10.244.{n}.3"))
        names.sync(store, c, underlay, str(where))
    names.sync(store, c, A, str(dirs[A]))
    assert set(peers(dirs[A])) == {"c1", "d1"}
    records.remove(str(dirs[B]), "ov1", "d1", "eth0")
    names.sync(store, c, B, str(dirs[B]))
    names.sync(store, c, A, str(dirs[A]))
    assert set(peers(dirs[A])) == {"c1"}
    names.withdraw(store, c, B)  # B leaves: its names, then its lease
    release(store, c, "10.244.1.0/24")
    names.forget("ov1", str(dirs[B]))
    names.sync(store, c, A, str(dirs[A]))
    assert peers(dirs[A]) == {} and peers(dirs[B]) == {}
    assert sorted(store.list(names.names_prefix(c))) == sorted(
        names.names_prefix(c, A) + record(n, "x").file_name() for n in ("c0", "d0"))


def test_a_host_whose_lease_expired_loses_its_names_until_it_publishes_again(tmp_path):
    c, store, dirs = hosts(tmp_path, lease_ttl=1)
    records.write(str(dirs[B]), record("db", "10.244.1.2"))
    names.sync(store, c, B, str(dirs[B]))
    take_lease(store, c, A)
    names.sync(store, c, A, str(dirs[A]))
    assert set(peers(dirs[A])) == {"db"}
    time.sleep(1.1)  # B's lease runs out (its member daemon died); A's is renewed
    take_lease(store, c, A)
    names.sync(store, c, A, str(dirs[A]))
    assert peers(dirs[A]) == {} and store.list(names.names_prefix(c, B)) == {}
    take_lease(store, c, B)  # B's member daemon is back: lease and names again
    names.sync(store, c, B, str(dirs[B]))
    names.sync(store, c, A, str(dirs[A]))
    assert set(peers(dirs[A])) == {"db"}


def test_hostile_store_values_are_not_mirrored(tmp_path):
    c, store, dirs = hosts(tmp_path)
    prefix = names.names_prefix(c, B)
    store.put(prefix + "a.json", {"names": ["x"], "addresses": ["not an address"], "containerId": "x", "ifname": "e"})
    store.put(prefix + "b.json", ["not", "a", "record"])
    store.put(prefix + "c.json", {"names": ["ok"], "addresses": ["10.244.1.9/24"], "containerId": "c",
                                  "ifname": "eth0", "gateways": ["10.244.0.1"], "host": "forged"})
    names.sync(store, c, A, str(dirs[A]))
    mirrored = [a for a in records.load(str(dirs[A])).values() if a.host]
    assert [(a.names, a.host, a.gateways) for a in mirrored] == [(["ok"], B, [])]  # no listener for a peer's claim
