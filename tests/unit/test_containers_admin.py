"""The sans-I/O parts of the runtime and the network CLI: ports, subnet pools, names, conflists."""

from __future__ import annotations

import ipaddress
import json
import sys

import pytest

from cni.containers import netadmin, subnets
from cni.libcni import NetworkConfig
from cni.containers.state import ContainerError, new
from cni.containers.lifecycle import parse_port


@pytest.mark.parametrize("spec,expected", [
    ("8080:80", {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}),
    ("53:53/udp", {"hostPort": 53, "containerPort": 53, "protocol": "udp", "hostIP": ""}),
    ("127.0.0.1:8080:80/sctp", {"hostPort": 8080, "containerPort": 80, "protocol": "sctp", "hostIP": "127.0.0.1"}),
    ("[::1]:8080:80", {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "::1"}),
])
def test_port_specs(spec, expected):
    assert parse_port(spec) == expected


@pytest.mark.parametrize("spec", ["80", "0:80", "80:65536", "a:80", "80:80/icmp", "300.1.1.1:80:80", ""])
def test_bad_port_specs(spec):
    with pytest.raises(ContainerError, match="invalid port"):
        parse_port(spec)


def test_pools_are_dockers_in_order():
    first = [str(p) for p in list(subnets.pools())[:16]]
    assert first[0] == "172.17.0.0/16" and first[14] == "172.31.0.0/16" and first[15] == "192.168.0.0/20"


def test_choose_skips_overlaps_and_ignores_ipv6():
    taken = [ipaddress.ip_network(n) for n in ("172.17.5.0/24", "172.16.0.0/12", "fd00::/8")]
    assert str(subnets.choose(taken[:1] + taken[2:])) == "172.18.0.0/16"
    assert str(subnets.choose(taken)) == "192.168.0.0/20"  # 172.16/12 covers every 172 pool
    with pytest.raises(ValueError, match="no free subnet"):
        subnets.choose([ipaddress.ip_network("128.0.0.0/1")])


def test_bridge_names_fit_in_15_bytes_and_stay_unique():
    assert netadmin.bridge_name("web", set()) == "pn-web"
    long = netadmin.bridge_name("a-very-long-network-name", set())
    assert long.startswith("pn-a-ver-") and len(long) == 15
    assert netadmin.bridge_name("web", {"pn-web"}).startswith("pn-web-")
    assert netadmin.bridge_name("web", {"pn-web", netadmin.bridge_name("web", {"pn-web"})}) != "pn-web"


def test_a_bridge_conflist_loads_as_a_network_with_its_subnets():
    opts = netadmin.BridgeOptions(ipv6="fd00:1::/64", mtu=1400, icc=False)
    plugins = netadmin.bridge_plugins("pn-n1", ipaddress.ip_network("10.1.0.0/24"), "10.1.0.1", opts)
    doc = netadmin.conflist("n1", plugins, created="2026-01-01T00:00:00+00:00")
    net = NetworkConfig.from_bytes(json.dumps(doc).encode(), "n1.conflist")
    assert net.name == "n1" and net.cni_version == "1.0.0"
    assert [str(s) for s in netadmin.network_subnets(net)] == ["10.1.0.0/24", "fd00:1::/64"]
    assert netadmin.bridge_of(net) == "pn-n1"
    assert netadmin.made_by_pynet(net) == {"created": "2026-01-01T00:00:00+00:00"}
    assert net.plugins[0]["mtu"] == 1400 and net.plugins[0]["icc"] is False


def test_container_names():
    assert new("", ["true"], "none").name.startswith("c-")
    for bad in ("-x", "a/b", "a b", "x" * 64):
        with pytest.raises(ContainerError, match="invalid container name"):
            new(bad, ["true"], "none")


def test_the_runtimes_default_plugin_dir_is_filled_on_first_use_and_kept(tmp_path, monkeypatch):
    from cni.cli import plugins

    monkeypatch.delenv("CNI_PATH", raising=False)
    monkeypatch.setattr(plugins, "DEFAULT_RUNTIME_DIR", str(tmp_path))
    assert plugins.runtime_path() == [str(tmp_path)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(plugins.PLUGINS)
    stamp = (tmp_path / "bridge").stat().st_mtime_ns
    plugins.runtime_path()
    assert (tmp_path / "bridge").stat().st_mtime_ns == stamp  # this Python's launchers are kept
    (tmp_path / "bridge").write_text("#!/gone/python -I\n")
    plugins.runtime_path()
    assert (tmp_path / "bridge").read_text().startswith(f"#!{sys.executable} ")  # another Python's: replaced
    monkeypatch.setenv("CNI_PATH", "/a:/b")
    assert plugins.runtime_path() == ["/a", "/b"]


def test_etc_files_for_a_rootfs():
    from cni.containers.etcfiles import contents

    files = contents("web", ["10.1.0.2/24", "fd00::2/64"], {}, "nameserver 127.0.0.53\nnameserver 9.9.9.9\nsearch lan\n")
    assert files["hostname"] == "web\n"
    assert files["hosts"].endswith("10.1.0.2\tweb\nfd00::2\tweb\n")
    assert files["resolv.conf"] == "nameserver 9.9.9.9\nsearch lan\n"  # no loopback resolver
    dns = {"nameservers": ["10.1.0.1"], "search": ["svc"], "options": ["ndots:2"]}
    assert contents("x", [], dns, "")["resolv.conf"] == "nameserver 10.1.0.1\nsearch svc\noptions ndots:2\n"
    assert "127.0.1.1\tx\n" in contents("x", [], {}, "")["hosts"]


def test_etc_files_with_dns_options_and_added_hosts():
    from cni.containers.etcfiles import EtcError, Requested, contents

    dns = {"nameservers": ["10.1.0.1"], "search": ["svc"], "options": ["ndots:2"]}
    asked = Requested(dns=("192.0.2.1",), dns_search=("corp",), add_hosts=("db:10.0.0.5", "v6:fd00::5"))
    files = contents("x", ["10.1.0.2/24"], dns, "", asked)
    assert files["resolv.conf"] == "nameserver 192.0.2.1\nsearch corp\noptions ndots:2\n"
    assert files["hosts"].endswith("10.0.0.5\tdb\nfd00::5\tv6\n10.1.0.2\tx\n")
    host = "nameserver 127.0.0.53\nnameserver ::1\ndomain lan\noptions edns0\n"
    fallback = "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0\n"  # Docker's
    assert contents("x", [], {}, host)["resolv.conf"] == fallback
    for bad in (Requested(dns=("x",)), Requested(add_hosts=("db",)), Requested(add_hosts=(":1.2.3.4",)),
                Requested(dns_search=("",))):
        with pytest.raises(EtcError):
            bad.check()
