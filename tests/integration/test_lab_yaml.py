"""`pynet lab up -f lab.yaml`: the example file's lab (three hosts, two overlays, containers with
their commands and a published port) comes up as the file describes it, `lab status --format json`
says so beside what the file asked for, and `lab down` leaves nothing; bad files and an encrypted
network on a kernel without WireGuard are refused before anything is made."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import subprocess
import tempfile

import pytest
import yaml

from cni.kernel.links import kernel_knows
from cni.lab.topology import parse
from tests.integration.lab_cli import PYNET, Lab, processes_of
from tests.integration.overlay_lab import etcd_missing, wait_for
from tests.integration.test_lab import lab_namespaces

pytestmark = pytest.mark.root

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "lab.yaml")
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())"


def fetch(namespace: str, url: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", namespace, "python3", "-c", FETCH, url], capture_output=True,
                          text=True, timeout=10)
    return done.stdout


@pytest.mark.skipif(bool(etcd_missing()), reason=etcd_missing())
def test_the_example_lab_comes_up_as_its_file_says_and_goes():
    with open(EXAMPLE) as f:
        said = yaml.safe_load(f)
    lab = Lab("-f", EXAMPLE)
    try:
        print(f"the example lab up in {lab.desc['up_s']} s")  # a figure, not a check
        status = json.loads(lab.pynet("--format", "json", "lab", "status").stdout)
        asked, now = status["asked"], status["running"]
        assert asked == parse(open(EXAMPLE).read()).as_dict()
        assert os.path.isfile(lab.desc["etcd"]["tls"]["key"])  # etcd with TLS, as the file asked
        assert list(asked["hosts"]) == list(said["hosts"]) and asked["store"]["kind"] == said["store"]["kind"]
        assert {n: (a["subnet"], a["vni"]) for n, a in asked["networks"].items()} == {
            n: (s["subnet"], s["vni"]) for n, s in said["networks"].items()}

        assert now["hosts"] == {name: {"up": True} for name in said["hosts"]}
        assert set(now["containers"]) == set(said["containers"])
        for name, wanted in said["containers"].items():
            running = now["containers"][name]
            subnet = ipaddress.ip_network(said["networks"][wanted["network"]]["subnet"])
            assert (running["host"], running["network"], running["status"]) == (
                wanted["host"], wanted["network"], "running"), name
            assert ipaddress.ip_interface(running["address"]).ip in subnet, name
        # each network's hosts with a container there route to the others' subnets, and only those
        for network in said["networks"]:
            members = {c["host"]: ipaddress.ip_interface(now["containers"][n]["address"]).network
                       for n, c in said["containers"].items() if c["network"] == network}
            for host, routes in now["networks"][network].items():
                expected = sorted(str(s) for h, s in members.items() if h != host) if host in members else []
                assert sorted(routes) == expected, (network, host)

        # the web container runs its command, and its published port answers from every host
        web = json.loads(lab.on(1, "--format", "json", "ps").stdout)
        assert [(c["name"], c["command"]) for c in web] == [(f"{lab.prefix}web", "python3 -m http.server 80")]
        h1 = lab.desc["hosts"][0]["underlay"]
        for host in said["hosts"]:
            page = wait_for(lambda: "Directory listing" in fetch(f"{lab.prefix}{host}", f"http://{h1}:8080/"), 20,
                            step=0.5)
            assert page is not None, f"{h1}:8080 (web's published port 80) did not answer from {host}"
        # across the overlays by name: blue's containers find each other, red's do not see blue's
        assert lab.pynet("lab", "on", "2", "--", "exec", f"{lab.prefix}b2", "ping", "-c1", "-W2",
                         f"{lab.prefix}web").returncode == 0
        cut = lab.pynet("lab", "on", "3", "--", "exec", f"{lab.prefix}r3", "ping", "-c1", "-W2",
                        now["containers"]["web"]["address"].split("/")[0], check=False)
        assert cut.returncode != 0
    finally:
        lab.down()
    key = lab.desc["etcd"]["tls"]["key"]  # the client certificate's key, under the lab's directory as etcd's data
    assert key.startswith(lab.dir + "/") and not os.path.exists(key)
    assert lab_namespaces(lab.prefix) == [] and not os.path.exists(lab.dir)
    assert processes_of(lab.dir) == []


def up_refused(text: str) -> str:
    """`pynet lab up -f lab.yaml` of a file with `text`, in a lab directory and with names of its own,
    refused: its message (what it made, nothing, is checked here)."""
    prefix, directory, files = f"pny{secrets.token_hex(2)}-", tempfile.mkdtemp(prefix="pnlab"), tempfile.mkdtemp()
    os.rmdir(directory)
    path = os.path.join(files, "lab.yaml")
    with open(path, "w") as f:
        f.write(text)
    done = subprocess.run([PYNET, "lab", "up", "-f", path], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYNET_LAB_DIR": directory, "PYNET_LAB_PREFIX": prefix})
    os.unlink(path)
    os.rmdir(files)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert lab_namespaces(prefix) == [] and not os.path.exists(directory)
    return done.stderr.replace(path, "lab.yaml")


def test_a_bad_file_is_refused_with_its_line_and_nothing_is_made():
    bad = "hosts:\n  h1: {}\n  h2: {}\nnetworks:\n  blue: {subnet: 10.50.0.0/16, vni: 50}\ncontainers:\n" \
          "  web: {host: h1, network: blue, ports: [80]}\n"
    assert up_refused(bad).startswith("pynet: lab.yaml:7: containers.web.ports: unknown key")
    both = subprocess.run([PYNET, "lab", "up", "-f", EXAMPLE, "--hosts", "3", "--encrypt"], capture_output=True,
                          text=True, timeout=60)
    assert both.returncode == 1 and f"-f {EXAMPLE} describes the whole lab: leave out --hosts, --encrypt" in both.stderr
    address = "hosts: {h1: {}}\nnetworks:\n  blue: {subnet: 10.50.0.300/16, vni: 50}\n"
    assert up_refused(address).startswith("pynet: lab.yaml:3: networks.blue.subnet: '10.50.0.300/16' is not an "
                                          "IPv4 network")


@pytest.mark.skipif(kernel_knows("wireguard"), reason="this kernel has WireGuard: an encrypted netns lab runs")
def test_an_encrypted_network_needs_wireguard_in_a_netns_lab():
    text = "hosts: {h1: {}, h2: {}}\nnetworks:\n  sec: {subnet: 10.7.0.0/16, vni: 7, encrypt: true}\n"
    refused = up_refused(text)
    assert "network sec: encrypt needs WireGuard" in refused and "module wireguard" in refused
