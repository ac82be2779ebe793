"""Docker's default network on a simulated host: `pynet run` without `--network` attaches to
`bridge` (bridge pynet0, a free subnet of Docker's pools), made on first use, once."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.integration.simhost import PYNET, error_line, simhost  # noqa: F401

pytestmark = pytest.mark.root


def test_first_run_creates_bridge_later_runs_reuse_it_and_rm_waits_for_its_containers(simhost):
    assert simhost.json("network", "ls") == []
    out = simhost.pynet("run", "--name", "first", "--", "sh", "-c", "ip -br addr show eth0; ping -c1 -W2 172.17.0.1")
    assert " 172.17.0.2/16 " in out.stdout and " 0% packet loss" in out.stdout
    simhost.pynet("run", "-d", "--name", "second", "--", "sleep", "300")
    [net] = simhost.json("network", "ls")
    assert (net["name"], net["bridge"], net["subnets"], net["containers"]) == ("bridge", "pynet0", ["172.17.0.0/16"], 2)
    assert simhost.json("inspect", "second")["addresses"] == ["172.17.0.3/16"]
    assert simhost.json("ps")[0]["network"] == "bridge"
    line = error_line(simhost.pynet("network", "rm", "bridge", check=False))
    assert "network bridge is in use by 2 container(s)" in line and "first" in line and "second" in line
    simhost.pynet("rm", "-f", "first", "second")
    simhost.pynet("network", "rm", "bridge")
    assert simhost.json("network", "ls") == [] and "pynet0" not in simhost.ns.links()


def test_a_routed_172_17_gives_the_next_pool(simhost):
    simhost.ns.run("ip", "route", "add", "blackhole", "172.17.0.0/16")
    out = simhost.pynet("run", "--rm", "--", "sh", "-c", "ip -br addr show eth0; ping -c1 -W2 172.18.0.1").stdout
    assert " 172.18.0.2/16 " in out and " 0% packet loss" in out
    assert simhost.json("network", "inspect", "bridge")["subnets"] == ["172.18.0.0/16"]


def test_two_concurrent_first_runs_make_one_network(simhost):
    runs = [subprocess.Popen(["ip", "netns", "exec", simhost.ns.name, PYNET, "run", "-d", "--name", f"r{n}", "--",
                              "sleep", "300"], env=simhost.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for n in range(2)]
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read()
    assert os.listdir(simhost.conf_dir) == ["bridge.conflist"]
    addresses = sorted(a for row in simhost.json("ps") for a in row["addresses"])
    assert addresses == ["172.17.0.2/16", "172.17.0.3/16"]


def test_none_is_loopback_only_and_the_default_network_has_no_aliases(simhost):
    out = simhost.pynet("run", "--rm", "--network", "none", "--", "ip", "-br", "link").stdout
    assert [line.split()[0] for line in out.splitlines()] == ["lo"]
    line = error_line(simhost.pynet("run", "--network-alias", "www", "--", "true", check=False))
    assert "--network-alias needs a user-defined network, not --network bridge" in line
    assert simhost.json("network", "ls") == [] and simhost.states() == []


def test_the_default_networks_conflist_is_pynets_bridge_chain(simhost):
    simhost.pynet("run", "--rm", "--", "true")
    with open(os.path.join(simhost.conf_dir, "bridge.conflist")) as f:
        doc = json.load(f)
    assert [p["type"] for p in doc["plugins"]] == ["bridge", "portmap", "firewall", "tuning"]
    assert doc["plugins"][0]["bridge"] == "pynet0" and doc["pynet"]["created"]
