"""Containers find each other by name, as Docker's user-defined networks do, on a simulated host:
`pynet create bridge` chains dnsname, `pynet run --name` names the container, and a container on
the same network fetches another by name (and alias); on a dual-stack network names answer A and
AAAA, with and without --rootfs, and reach over IPv6; the default network has no names."""

from __future__ import annotations

import json

import pytest

from tests.integration import busybox
from tests.integration.simhost import simhost  # noqa: F401

pytestmark = pytest.mark.root

# getaddrinfo of each name: its addresses; then an HTTP GET over IPv6 to the first name's IPv6 address
RESOLVE_AND_FETCH_V6 = """import json, socket, sys
found = {n: sorted({i[4][0] for i in socket.getaddrinfo(n, 80, type=socket.SOCK_STREAM)}) for n in sys.argv[1:]}
with socket.create_connection(socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET6)[0][4][:2], timeout=5) as s:
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    found["fetched"] = s.makefile("rb").read().decode().split("\\r\\n\\r\\n", 1)[-1]
print(json.dumps(found))"""
FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


def test_a_container_fetches_another_by_name_and_alias(simhost, tmp_path):
    (tmp_path / "index.html").write_text("hello by name\n")
    simhost.pynet("create", "bridge", "mynet", "--subnet", "10.124.0.0/24")
    simhost.pynet("run", "-d", "--name", "web", "--network", "mynet", "--network-alias", "www", "--",
                  "python3", "-m", "http.server", "80", "--directory", str(tmp_path))
    for url in ("http://web/", "http://www/", "http://web.dns.pynet/"):
        out = simhost.pynet("run", "--rm", "--network", "mynet", "--", "python3", "-c", FETCH, url)
        assert out.stdout == "hello by name\n", url
    resolv = simhost.pynet("run", "--rm", "--network", "mynet", "--", "cat", "/etc/resolv.conf").stdout
    assert "nameserver 10.124.0.1" in resolv and "dns.pynet" in resolv
    simhost.pynet("rm", "-f", "web")
    gone = simhost.pynet("run", "--rm", "--network", "mynet", "--", "getent", "hosts", "web", check=False)
    assert gone.returncode == 2
    simhost.pynet("network", "rm", "mynet")


def test_the_default_network_has_no_names(simhost):
    simhost.pynet("run", "-d", "--name", "web", "--", "sleep", "300")
    looked_up = simhost.pynet("run", "--rm", "--", "getent", "hosts", "web", check=False)
    assert looked_up.returncode != 0
    assert [p["type"] for p in simhost.json("network", "inspect", "bridge")["plugins"]][-1] != "dnsname"
    simhost.pynet("rm", "-f", "web")


def addresses(simhost, name: str) -> list[str]:
    return sorted(ip["address"].split("/")[0] for ip in simhost.json("inspect", name)["result"]["ips"])


@busybox.needed
def test_dual_stack_names_answer_a_and_aaaa_with_and_without_rootfs(simhost, tmp_path):
    """On a network with an IPv4 and an IPv6 subnet, a container with the host's root and one with a
    busybox --rootfs find each other by name, name.dns.pynet and alias, with both addresses, and
    reach each other over IPv6 by name."""
    root = busybox.rootfs(tmp_path / "rootfs", busybox.APPLETS + ("ping6",))
    (root / "www").mkdir()
    (root / "www" / "index.html").write_text("hello over IPv6\n")
    simhost.pynet("create", "bridge", "dual", "--subnet", "10.125.0.0/24", "--ipv6", "fd25::/64")
    simhost.pynet("run", "-d", "--name", "web", "--network", "dual", "--network-alias", "www", "--", "sleep", "300")
    simhost.pynet("run", "-d", "--name", "bb", "--network", "dual", "--network-alias", "box", "--rootfs", str(root),
                  "--", "httpd", "-f", "-p", "[::]:80", "-h", "/www")
    web, bb = addresses(simhost, "web"), addresses(simhost, "bb")
    assert [":" in a for a in web] == [False, True], web  # one IPv4 and one IPv6 address each
    names = ["bb", "bb.dns.pynet", "box", "box.dns.pynet"]
    found = json.loads(simhost.pynet("exec", "web", "python3", "-c", RESOLVE_AND_FETCH_V6, *names).stdout)
    assert found == {**{n: bb for n in names}, "fetched": "hello over IPv6\n"}
    assert sorted(line.split()[0] for line in simhost.sh("web", "getent ahosts bb").splitlines()
                  if "STREAM" in line) == bb
    for name in ("web", "web.dns.pynet", "www", "www.dns.pynet"):  # busybox's own resolver, then ping6 by name
        for qtype, address in (("A", web[0]), ("AAAA", web[1])):
            assert f"Address: {address}\n" in simhost.sh("bb", f"nslookup -type={qtype} {name}"), (name, qtype)
        assert f"from {web[1]}: seq=0" in simhost.sh("bb", f"ping6 -c1 -W5 {name}"), name
    simhost.pynet("rm", "-f", "web", "bb")
    simhost.pynet("network", "rm", "dual")
