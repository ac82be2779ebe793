"""A real client: Podman 4 (CNI backend) runs containers on pynet's plugins alone.

Podman runs inside a simulated host namespace (entered with nsenter, which keeps /sys and so the
cgroup mounts runc needs); its CNI plugin dir is filled by `pynet plugins install --names
reference`. Skipped, with the reason, where podman, runc or busybox-static are not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.integration import busybox, firewall_host
from tests.integration.clients import containers_conf
from tests.netns import install_plugins

pytestmark = pytest.mark.root

NEEDED = {"podman": "podman", "runc": "runc", "busybox": "busybox-static", "nsenter": "util-linux"}
missing = [pkg for program, pkg in NEEDED.items() if not shutil.which(program)]


@pytest.fixture
def podman(make_netns, tmp_path, token):
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    host = make_netns("h")
    cni_bin, net_d = install_plugins(tmp_path / "cni-bin"), tmp_path / "net.d"
    net_d.mkdir()
    (tmp_path / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/storage"\nrunroot = "{tmp_path}/run/storage"\n')
    rootfs = busybox.rootfs(tmp_path / "rootfs")
    (rootfs / "www").mkdir()
    (rootfs / "www" / "index.html").write_text("hello from busybox httpd\n")
    env = {**os.environ, "CONTAINERS_CONF": containers_conf(tmp_path / "containers.conf", cni_bin, net_d,
                                                            tmp_path / "run" / "libpod"),
           "CONTAINERS_STORAGE_CONF": str(tmp_path / "storage.conf"), "PYNET_STATE_DIR": str(tmp_path / "state")}

    def run(*argv, check=True, timeout=120, **kw):
        done = subprocess.run(["nsenter", f"--net={host.path}", "podman", *argv], env=env, capture_output=True,
                              text=True, timeout=timeout, **kw)
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(argv)}: {done.stderr[-500:]}")
        return done

    tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
    imported = subprocess.run(["nsenter", f"--net={host.path}", "podman", "import", "-", "localhost/pynet-busybox"],
                              env=env, input=tar, capture_output=True, timeout=120)
    assert imported.returncode == 0, imported.stderr.decode()[-500:]
    network = f"pnt{token}"
    run("network", "create", network)
    yield {"run": run, "host": host, "network": network, "net_d": net_d}
    run("rm", "-fa", "-t", "0", check=False)
    run("network", "rm", "-f", network, check=False)
    run("rmi", "-af", check=False)
    shutil.rmtree(f"/var/lib/cni/networks/{network}", ignore_errors=True)


def address(podman, name: str) -> str:
    return podman["run"]("inspect", name, "--format",
                         f"{{{{(index .NetworkSettings.Networks \"{podman['network']}\").IPAddress}}}}").stdout.strip()


def test_two_busybox_containers_ping_and_publish_a_port(podman):
    run, network = podman["run"], podman["network"]
    firewall_before = firewall_host.ruleset(podman["host"])
    run("run", "-d", "--name", "web", "--network", network, "-p", "8080:80", "localhost/pynet-busybox",
        "httpd", "-f", "-p", "80", "-h", "/www")
    run("run", "-d", "--name", "peer", "--network", network, "localhost/pynet-busybox", "sleep", "300")
    web, peer = address(podman, "web"), address(podman, "peer")
    assert web and peer and web != peer
    assert " 0% packet loss" in run("exec", "peer", "ping", "-c1", "-W2", web).stdout
    assert " 0% packet loss" in run("exec", "web", "ping", "-c1", "-W2", peer).stdout
    gateway = web.rsplit(".", 1)[0] + ".1"
    # the published port, from another container through the host (hairpin) and from the host itself
    for _ in range(50):
        fetched = run("exec", "peer", "wget", "-q", "-O-", f"http://{gateway}:8080/", check=False).stdout
        if fetched:
            break
        time.sleep(0.1)
    assert fetched == "hello from busybox httpd\n"
    local = subprocess.run(["nsenter", f"--net={podman['host'].path}", "python3", "-c",
                            "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/', "
                            "timeout=5).read().decode(), end='')"], capture_output=True, text=True)
    assert local.stdout == "hello from busybox httpd\n", local.stderr

    host = podman["host"]
    assert len([n for n in host.links() if n.startswith("pnv")]) == 2
    run("rm", "-f", "-t", "0", "web", "peer")
    assert not [n for n in host.links() if n.startswith("pnv")]
    ruleset = host.run("nft", "list", "ruleset").stdout
    assert web not in ruleset and peer not in ruleset and "8080" not in ruleset
    left = os.listdir(f"/var/lib/cni/networks/{network}")
    assert sorted(left) == ["last_reserved_ip.0", "lock"], left
    assert firewall_host.ruleset(host) == firewall_before  # the network's last container took its elements and table
    run("network", "rm", network)
    assert firewall_host.ruleset(host) == firewall_before


def test_podman_adds_dnsname_and_containers_resolve_each_other_by_name(podman):
    """`podman network create` chains dnsname by itself when a plugin of that name is in its plugin
    dir: pynet's, which serves the names from the host's DNS server on the gateway."""
    run, network = podman["run"], podman["network"]
    conflist = json.loads((podman["net_d"] / f"{network}.conflist").read_text())
    assert [p["type"] for p in conflist["plugins"]][-1] == "dnsname"
    run("run", "-d", "--name", "web", "--network", network, "--network-alias", "www", "localhost/pynet-busybox",
        "sleep", "300")
    run("run", "-d", "--name", "peer", "--network", network, "localhost/pynet-busybox", "sleep", "300")
    web = address(podman, "web")
    for name in ("web", "www", "web.dns.podman"):
        looked_up = run("exec", "peer", "nslookup", name, check=False)
        assert web in looked_up.stdout, (name, looked_up.stdout, looked_up.stderr)
    assert " 0% packet loss" in run("exec", "peer", "ping", "-c1", "-W2", "web").stdout
    run("rm", "-f", "-t", "0", "web")
    assert web not in run("exec", "peer", "nslookup", "web", check=False).stdout
