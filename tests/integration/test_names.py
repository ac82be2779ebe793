"""Containers find each other by name, as Docker's user-defined networks do, on a simulated host:
`pynet create bridge` chains dnsname, `pynet run --name` names the container, and a container on
the same network fetches another by name (and alias); the default network has no names."""

from __future__ import annotations

import pytest

from tests.integration.simhost import simhost  # noqa: F401

pytestmark = pytest.mark.root

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
