"""pynet-host-local run as a delegating plugin runs it: allocation, the on-disk store, errors."""

from __future__ import annotations

import json
import os

import pytest

from cni.spec import SUPPORTED
from tests.netns import plugin_path, run_plugin

HOST_LOCAL = plugin_path("host-local")


@pytest.fixture
def data_dir(tmp_path):
    return str(tmp_path / "networks")


def conf(data_dir, version="1.0.0", ranges=None, **ipam) -> dict:
    section = {"type": "host-local", "dataDir": data_dir, **ipam}
    if ranges is not None:
        section["ranges"] = ranges
    return {"cniVersion": version, "name": "net1", "type": "bridge", "ipam": section}


def add(config, cid="c1", ifname="eth0", **kw):
    return run_plugin(HOST_LOCAL, "ADD", config, netns="/run/netns/unused", container_id=cid, ifname=ifname, **kw)


def delete(config, cid="c1", ifname="eth0", **kw):
    return run_plugin(HOST_LOCAL, "DEL", config, netns="/run/netns/unused", container_id=cid, ifname=ifname, **kw)


def files(data_dir, network="net1") -> set[str]:
    return set(os.listdir(os.path.join(data_dir, network)))


def addresses(run) -> list[str]:
    assert run.ok, run.stdout + run.stderr
    return [ip["address"] for ip in run.json["ips"]]


V4 = [[{"subnet": "10.22.0.0/29"}]]


@pytest.mark.parametrize("version", SUPPORTED)
def test_add_check_del_for_every_version(version, data_dir):
    config = conf(data_dir, version, [[{"subnet": "10.22.0.0/24", "gateway": "10.22.0.254"}],
                                      [{"subnet": "fd00:22::/64"}]], routes=[{"dst": "0.0.0.0/0"}])
    added = add(config)
    assert added.ok, added.stdout
    ip4 = {"address": "10.22.0.1/24", "gateway": "10.22.0.254"}
    ip6 = {"address": "fd00:22::2/64", "gateway": "fd00:22::1"}
    if version < "1.0.0":
        ip4, ip6 = {"version": "4", **ip4}, {"version": "6", **ip6}
    expected = {"cniVersion": version, "ips": [ip4, ip6], "routes": [{"dst": "0.0.0.0/0"}]}
    if version < "1.0.0":
        expected["dns"] = {}
    assert added.json == expected
    directory = os.path.join(data_dir, "net1")
    with open(os.path.join(directory, "10.22.0.1"), "rb") as f:
        assert f.read() == b"c1\r\neth0"
    assert files(data_dir) == {"10.22.0.1", "fd00:22::2", "last_reserved_ip.0", "last_reserved_ip.1", "lock"}
    if version >= "0.4.0":
        checked = run_plugin(HOST_LOCAL, "CHECK", {**config, "prevResult": added.json}, netns="/run/netns/x",
                             container_id="c1")
        assert checked.ok and checked.stdout == "", checked.stdout
    for _ in range(2):
        deleted = delete(config)
        assert deleted.ok and deleted.stdout == ""
    assert files(data_dir) == {"last_reserved_ip.0", "last_reserved_ip.1", "lock"}


def test_sequential_continues_after_last_and_wraps(data_dir):
    config = conf(data_dir, ranges=V4)  # usable: .2 .. .6 (.1 is the gateway)
    got = [addresses(add(config, cid=f"c{n}"))[0] for n in range(3)]
    assert got == ["10.22.0.2/29", "10.22.0.3/29", "10.22.0.4/29"]
    assert delete(config, cid="c0").ok
    # freed .2 is not reused at once: allocation goes on after the last reserved address
    assert addresses(add(config, cid="c3")) == ["10.22.0.5/29"]
    assert addresses(add(config, cid="c4")) == ["10.22.0.6/29"]
    assert addresses(add(config, cid="c5")) == ["10.22.0.2/29"]  # wrapped around


def test_exhausted_range_is_a_clear_error_with_nothing_reserved(data_dir):
    config = conf(data_dir, ranges=[[{"subnet": "10.22.0.0/30"}], [{"subnet": "fd00:9::/64"}]])
    assert addresses(add(config, cid="c1")) == ["10.22.0.2/30", "fd00:9::2/64"]
    before = files(data_dir)
    failed = add(config, cid="c2")
    assert failed.returncode != 0
    assert failed.json["code"] == 103 and failed.json["msg"] == "no free address in 10.22.0.0/30"
    assert files(data_dir) == before  # the IPv6 address taken first was given back


def test_requested_addresses(data_dir):
    config = conf(data_dir, ranges=[[{"subnet": "10.22.0.0/24"}], [{"subnet": "fd00:22::/64"}]])
    assert addresses(add(config, cid="a", args="IP=10.22.0.77")) == ["10.22.0.77/24", "fd00:22::2/64"]
    via_args = {**config, "args": {"cni": {"ips": ["10.22.0.78", "fd00:22::78"]}}}
    assert addresses(add(via_args, cid="b")) == ["10.22.0.78/24", "fd00:22::78/64"]
    via_capability = {**config, "runtimeConfig": {"ips": ["10.22.0.79/24"]}}
    assert addresses(add(via_capability, cid="c")) == ["10.22.0.79/24", "fd00:22::79/64"]

    taken = add(config, cid="d", args="IP=10.22.0.77")
    assert taken.json["code"] == 104 and "10.22.0.77" in taken.json["msg"] and "a" in taken.json["details"]
    outside = add(config, cid="e", args="IP=192.168.5.5")
    assert outside.json["code"] == 104 and "192.168.5.5" in outside.json["msg"]
    gateway = add(config, cid="f", args="IP=10.22.0.1")
    assert gateway.json["code"] == 104 and "gateway" in gateway.json["details"]
    unknown = add(config, cid="g", args="FOO=1")
    assert unknown.json["code"] == 4 and "FOO" in unknown.json["details"]
    assert add(config, cid="g", args="IgnoreUnknown=1;FOO=1").ok


def test_add_twice_without_del_is_refused(data_dir):
    config = conf(data_dir, ranges=V4)
    assert add(config).ok
    again = add(config)
    assert again.json["code"] == 104 and "already has 10.22.0.2" in again.json["msg"]
    assert add(config, ifname="eth1").ok  # another interface of the same container is fine


def test_reads_the_older_id_only_format(data_dir):
    config = conf(data_dir, ranges=V4)
    directory = os.path.join(data_dir, "net1")
    os.makedirs(directory)
    with open(os.path.join(directory, "10.22.0.2"), "w") as f:
        f.write("old-container")
    assert addresses(add(config, cid="new")) == ["10.22.0.3/29"]  # .2 is seen as taken
    checked = run_plugin(HOST_LOCAL, "CHECK", config, netns="/run/netns/x", container_id="old-container")
    assert checked.ok, checked.stdout
    assert delete(config, cid="old-container").ok
    assert "10.22.0.2" not in files(data_dir)


def test_check_without_reservation_fails(data_dir):
    config = conf(data_dir, ranges=V4)
    checked = run_plugin(HOST_LOCAL, "CHECK", config, netns="/run/netns/x", container_id="ghost")
    assert checked.returncode != 0 and checked.json["code"] == 105


def test_gc_releases_what_is_not_a_valid_attachment(data_dir):
    config = conf(data_dir, "1.1.0", ranges=V4)
    for cid in ("keep", "drop1", "drop2"):
        assert add(config, cid=cid).ok
    assert add(config, cid="keep", ifname="eth1").ok
    gc = run_plugin(HOST_LOCAL, "GC", {**config, "cni.dev/valid-attachments": [
        {"containerID": "keep", "ifname": "eth0"}]}, cni_path="/usr/lib/cni")
    assert gc.ok and gc.stdout == "", gc.stdout
    assert files(data_dir) == {"10.22.0.2", "last_reserved_ip.0", "lock"}


def test_status_reports_an_exhausted_network(data_dir):
    config = conf(data_dir, "1.1.0", ranges=[[{"subnet": "10.22.0.0/30"}]])
    assert run_plugin(HOST_LOCAL, "STATUS", config).ok
    assert add(config).ok
    status = run_plugin(HOST_LOCAL, "STATUS", config)
    assert status.returncode != 0 and status.json["code"] == 50


def test_resolv_conf_becomes_dns(data_dir, tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# comment\nnameserver 10.0.0.53\nnameserver fd00::53\nsearch a.example b.example\n"
                      "domain example\noptions ndots:2 edns0\n")
    added = add(conf(data_dir, ranges=V4, resolvConf=str(resolv)))
    assert added.json["dns"] == {"nameservers": ["10.0.0.53", "fd00::53"], "domain": "example",
                                 "search": ["a.example", "b.example"], "options": ["ndots:2", "edns0"]}


def test_single_range_form_and_ip_ranges_capability(data_dir):
    config = conf(data_dir, subnet="10.30.0.0/24", rangeStart="10.30.0.100", rangeEnd="10.30.0.101")
    assert addresses(add(config, cid="a")) == ["10.30.0.100/24"]
    assert addresses(add(config, cid="b")) == ["10.30.0.101/24"]
    assert add(config, cid="c").json["code"] == 103
    with_capability = {**config, "name": "net2", "runtimeConfig": {"ipRanges": [[{"subnet": "fd00:30::/64"}]]}}
    assert addresses(add(with_capability, cid="d")) == ["fd00:30::2/64", "10.30.0.100/24"]


BAD = [
    ("overlapping ranges", {"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.128/25"}]]}, 7, "overlap"),
    ("rangeStart outside subnet", {"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.5"}]]}, 7,
     "rangeStart 10.0.1.5 is outside the subnet 10.0.0.0/24"),
    ("gateway outside subnet", {"ranges": [[{"subnet": "10.0.0.0/24", "gateway": "10.9.9.9"}]]}, 7,
     "gateway 10.9.9.9 is outside the subnet"),
    ("IPv6 range, IPv4 gateway", {"ranges": [[{"subnet": "fd00::/64", "gateway": "10.0.0.1"}]]}, 7,
     "IPv4 address in an IPv6 range"),
    ("subnet /33", {"ranges": [[{"subnet": "10.0.0.0/33"}]]}, 7, "10.0.0.0/33"),
    ("host bits set", {"ranges": [[{"subnet": "10.0.0.5/24"}]]}, 7, "did you mean 10.0.0.0/24"),
    ("subnet too small", {"ranges": [[{"subnet": "10.0.0.0/31"}]]}, 7, "too small"),
    ("mixed families", {"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]}, 7, "mixes"),
    ("no ranges", {}, 7, "ranges"),
    ("ranges not a list", {"ranges": {"subnet": "10.0.0.0/24"}}, 7, "list of range sets"),
]


@pytest.mark.parametrize("case,ipam,code,text", BAD, ids=[b[0] for b in BAD])
def test_bad_configuration(case, ipam, code, text, data_dir):
    run = add(conf(data_dir, **ipam))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    error = run.json
    assert error["code"] == code, error
    assert text in error["msg"] + " " + error["details"], error
    assert not os.path.exists(os.path.join(data_dir, "net1"))  # nothing touched


def test_data_dir_that_is_a_file(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    run = add(conf(str(not_a_dir), ranges=V4))
    assert run.json["code"] == 5 and "not a directory" in run.json["msg"]


@pytest.mark.parametrize("env,code", [({"CNI_CONTAINERID": ".."}, 4), ({"CNI_CONTAINERID": "../../x"}, 4)])
def test_names_cannot_escape_the_data_dir(env, code, data_dir):
    run = run_plugin(HOST_LOCAL, "ADD", conf(data_dir, ranges=V4), netns="/x", env=env)
    assert run.json["code"] == code
    escaping = {**conf(data_dir, ranges=V4), "name": "../../etc"}
    assert run_plugin(HOST_LOCAL, "ADD", escaping, netns="/x").json["code"] == 7
    assert not os.path.exists(data_dir)


def test_missing_ipam_section():
    run = run_plugin(HOST_LOCAL, "ADD", {"cniVersion": "1.0.0", "name": "n", "type": "host-local"}, netns="/x")
    assert run.json["code"] == 7 and "ipam" in run.json["msg"]
    assert json.loads(run.stdout)["cniVersion"] == "1.0.0"
