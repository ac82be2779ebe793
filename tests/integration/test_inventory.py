"""cni.kernel.inventory reads what `ip` shows (routes of every table, links with their state,
master and addresses), and the runtime's callers turn a refusal into a clear error, never an
empty answer."""

from __future__ import annotations

import ipaddress
import json

import pytest

from cni.containers import netadmin, subnets, topology
from cni.kernel import inventory
from cni.spec import CNIError

pytestmark = pytest.mark.root

SCENE = """link add pnibr type bridge
address add 10.77.0.1/24 dev pnibr
address add fd00:77::1/64 dev pnibr
link set pnibr up
link add pnia type veth peer name pnib
link set pnia master pnibr
link set pnia up
link add pnid type veth peer name pnie
address add 10.78.0.1 peer 10.78.0.2/32 dev pnid
route add blackhole 10.79.0.0/16 table 100
route add unreachable 10.80.1.0/24 table 4000
route add default via 10.77.0.254
route add unreachable default table 100
"""


@pytest.fixture
def scene(host):
    host.run("ip", "-batch", "-", input=SCENE)
    host.run("ip", "-6", "route", "add", "blackhole", "fd00:81::/48", "table", "200")
    return host


def ip_json(ns, *argv: str) -> list[dict]:
    return json.loads(ns.run("ip", "-j", *argv).stdout or "[]")


def test_routed_is_every_table_and_family_but_default_routes(scene):
    shown = {ipaddress.ip_network(r["dst"], strict=False) for family in ("-4", "-6")
             for r in ip_json(scene, family, "route", "show", "table", "all") if r["dst"] != "default"}
    found = [ipaddress.ip_network(dst) for dst in inventory.routed(scene.path)]
    assert set(found) == shown and len(found) == len(shown)
    assert {"10.79.0.0/16", "10.80.1.0/24", "fd00:81::/48", "10.77.0.0/24", "10.77.0.1/32"} <= set(map(str, found))
    assert not [n for n in found if n.prefixlen == 0]


def test_links_have_their_state_master_kind_and_addresses(scene):
    found = inventory.all_links(scene.path)
    shown = {link["ifname"]: link for link in ip_json(scene, "-d", "address", "show")}
    assert sorted(found) == sorted(shown)
    for name, link in found.items():
        assert (link.index, link.operstate, link.master) == \
            (shown[name]["ifindex"], shown[name]["operstate"].lower(), shown[name].get("master", ""))
        assert link.kind == shown[name].get("linkinfo", {}).get("info_kind", "")
        assert list(link.addresses) == [f"{a['local']}/{a['prefixlen']}" for a in shown[name]["addr_info"]
                                        if a["scope"] != "link"]
    assert found["pnibr"].addresses == ("10.77.0.1/24", "fd00:77::1/64")
    assert found["pnid"].addresses == ("10.78.0.1/32",)  # the local end, as `ip` shows it
    assert (found["pnia"].master, found["pnia"].kind, found["pnibr"].kind) == ("pnibr", "veth", "bridge")


def test_has_link_and_delete_bridge_which_leaves_other_kinds(scene):
    assert inventory.has_link("pnia", scene.path) and not inventory.has_link("pnino", scene.path)
    assert not inventory.has_link("x" * 16, scene.path)  # a name no link can have: not a kernel error
    assert not inventory.delete_bridge("pnid", scene.path)  # a veth with the name stays
    assert inventory.delete_bridge("pnibr", scene.path)
    assert not inventory.delete_bridge("pnibr", scene.path)
    assert "pnibr" not in scene.links() and {"pnia", "pnid"} <= set(scene.links())


def test_a_gone_namespace_is_an_error_never_an_empty_answer(make_netns):
    ns = make_netns("g")
    ns.delete()
    for read in (inventory.routed, inventory.all_links, lambda p: inventory.has_link("lo", p),
                 lambda p: inventory.delete_bridge("pnibr", p)):
        with pytest.raises(CNIError, match="does not exist"):
            read(ns.path)
    with pytest.raises(ValueError, match=r"cannot read the routes to choose a free subnet \(.*does not exist"):
        subnets.routed(ns.path)
    with pytest.raises(netadmin.NetworkError, match=f"cannot read the links of {ns.path}: .*does not exist"):
        topology.gather(ns.path)
