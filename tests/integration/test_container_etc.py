"""What `pynet run` tells the plugins (CNI_ARGS with K8S_POD_NAME, the aliases capability) and the
/etc/resolv.conf and /etc/hosts each container on a network gets, with and without --rootfs, in
its own mount namespace: the machine's files stay byte for byte as they were."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.integration import busybox
from tests.integration.simhost import PYNET, error_line, simhost  # noqa: F401
from tests.runtime import fake

pytestmark = pytest.mark.root

HOST_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")
RESULT_DNS = {"nameservers": ["10.9.0.1"], "search": ["net.example"], "options": ["ndots:2"]}


def host_bytes() -> dict[str, bytes]:
    found = {}
    for path in HOST_FILES:
        if os.path.exists(path):
            with open(path, "rb") as f:
                found[path] = f.read()
    return found


@pytest.fixture
def recorded(simhost, tmp_path):
    """Network `rec`: two recording plugins (the first declares `aliases`), a result with DNS."""
    fake.install(simhost.env["CNI_PATH"], "rec-aliases", "rec-plain")
    simhost.env["FAKE_LOG"] = log = str(tmp_path / "calls.jsonl")
    os.makedirs(simhost.conf_dir, exist_ok=True)
    with open(os.path.join(simhost.conf_dir, "rec.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "rec", "plugins": [
            {"type": "rec-aliases", "capabilities": {"aliases": True}, "fake_dns": RESULT_DNS},
            {"type": "rec-plain"}]}, f)

    def calls(command: str) -> list[dict]:
        with open(log) as f:
            return [c for c in map(json.loads, f) if c["command"] == command]
    return calls


def test_cni_args_name_the_pod_and_aliases_reach_only_the_plugin_that_declares_them(simhost, recorded):
    cid = simhost.pynet("run", "-d", "--name", "web", "--network", "rec", "--network-alias", "www",
                        "--network-alias", "site", "--", "sleep", "300").stdout.strip()
    simhost.pynet("rm", "-f", "web")
    for command in ("ADD", "DEL"):
        first, second = sorted(recorded(command), key=lambda c: c["type"])
        assert first["env"]["CNI_ARGS"] == second["env"]["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"
        assert first["env"]["CNI_CONTAINERID"] == cid
        assert first["conf"]["runtimeConfig"] == {"aliases": {"rec": ["www", "site"]}}
        assert "runtimeConfig" not in second["conf"]


def test_resolv_conf_from_the_result_with_dns_and_dns_search_replacing(simhost, recorded):
    before = host_bytes()
    out = simhost.pynet("run", "--rm", "--name", "q", "--network", "rec", "--", "cat", "/etc/resolv.conf").stdout
    assert out == "nameserver 10.9.0.1\nsearch net.example\noptions ndots:2\n"
    out = simhost.pynet("run", "--rm", "--network", "rec", "--dns", "192.0.2.53", "--dns", "2001:db8::53",
                        "--dns-search", "a.example", "--", "cat", "/etc/resolv.conf").stdout
    assert out == "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch a.example\noptions ndots:2\n"
    assert host_bytes() == before


def test_hosts_has_localhost_add_hosts_and_the_containers_own_name(simhost):
    before = host_bytes()
    simhost.pynet("run", "-d", "--name", "box", "--add-host", "db:10.1.2.3", "--add-host", "v6db:fd00::7",
                  "--", "sleep", "300")
    address = simhost.json("inspect", "box")["addresses"][0].split("/")[0]
    hosts = simhost.sh("box", "cat /etc/hosts")
    assert hosts == (f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tdb\n"
                     f"fd00::7\tv6db\n{address}\tbox\n")
    assert simhost.sh("box", "getent hosts db").split() == ["10.1.2.3", "db"]
    assert simhost.sh("box", "getent hosts box").split() == [address, "box"]
    joiner = simhost.pynet("run", "--rm", "--network", "container:box", "--", "cat", "/etc/hosts").stdout
    assert joiner == hosts  # as Docker: a container in another's network namespace shares its files
    assert host_bytes() == before
    state_dir = simhost.json("inspect", "box")["state_dir"]
    assert os.path.exists(os.path.join(state_dir, "hosts"))
    simhost.pynet("rm", "-f", "box")
    assert not os.path.exists(state_dir)


def test_without_dns_in_the_result_the_hosts_resolvers_but_loopback_else_dockers_fallback(simhost, tmp_path):
    """pynet under a mount namespace whose /etc/resolv.conf is systemd-resolved's stub only."""
    stub = tmp_path / "resolv.conf"
    stub.write_text("# stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
    script = (f"mount --bind {stub} /etc/resolv.conf && exec ip netns exec {simhost.ns.name} {PYNET} run --rm "
              "-- cat /etc/resolv.conf")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=simhost.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0 trust-ad\n"
    out = simhost.pynet("run", "--rm", "--", "cat", "/etc/resolv.conf").stdout
    with open("/etc/resolv.conf") as f:
        servers = [line.split()[1] for line in f if line.startswith("nameserver") and not line.startswith(
            ("nameserver 127.", "nameserver ::1"))]
    assert [line.split()[1] for line in out.splitlines() if line.startswith("nameserver")] == (
        servers or ["8.8.8.8", "8.8.4.4"])


@busybox.needed
def test_rootfs_gets_the_same_files_and_resolves_an_added_host(simhost, recorded, tmp_path):
    root = busybox.rootfs(tmp_path / "rootfs")
    simhost.pynet("run", "-d", "--name", "rb", "--network", "rec", "--rootfs", str(root), "--dns-search", "b.example",
                  "--add-host", "db:10.1.2.3", "--", "sleep", "300")
    assert simhost.sh("rb", "cat /etc/resolv.conf") == "nameserver 10.9.0.1\nsearch b.example\noptions ndots:2\n"
    assert "10.1.2.3\tdb\n10.9.0.2\trb\n" in simhost.sh("rb", "cat /etc/hosts")
    assert "PING db (10.1.2.3)" in simhost.sh("rb", "ping -c1 -W1 db", check=False)
    assert [os.path.getsize(root / "etc" / f) for f in ("hosts", "resolv.conf")] == [0, 0]  # mount points only


@pytest.mark.parametrize("argv,message", [
    (["--dns", "not-an-ip"], "invalid --dns 'not-an-ip'"),
    (["--add-host", "nohost"], "invalid --add-host 'nohost': NAME:IP"),
    (["--add-host", "db:10.0.0.300"], "invalid --add-host"),
    (["--dns-search", "a b"], "invalid --dns-search"),
    (["--network", "none", "--network-alias", "x"], "--network-alias needs a user-defined network"),
    (["--network", "container:x", "--dns", "10.0.0.1"], "conflict with --network container:"),
])
def test_bad_dns_and_host_options_are_one_line_and_create_nothing(simhost, argv, message):
    assert message in error_line(simhost.pynet("run", *argv, "--", "true", check=False))
    assert simhost.states() == [] and simhost.json("network", "ls") == []
