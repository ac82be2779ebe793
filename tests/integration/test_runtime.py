"""`pynet run/ps/exec/logs/stop/rm/inspect` on a simulated host: real namespaces and processes,
each of Docker's network modes, and removal that leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.integration import busybox
from tests.integration.simhost import PYNET, error_line, simhost  # noqa: F401
from tests.netns import link_outside, wait_until

pytestmark = pytest.mark.root

SERVE = "exec python3 -m http.server --bind {bind} {port}"


def links(host, container: str) -> list[str]:
    return [line.split()[0].split("@")[0] for line in host.sh(container, "ip -br link").splitlines()]


def test_none_has_only_loopback_up_its_own_hostname_and_pid_namespace(simhost):
    done = simhost.pynet("run", "--network", "none", "--name", f"n{simhost.token}", "--",
                         "sh", "-c", "ip -br link; hostname; echo pid=$$")
    out = done.stdout.splitlines()
    assert len([line for line in out if "LOOPBACK" in line]) == 1 and "UP" in out[0]
    assert not [line for line in out if "@" in line or line.startswith("eth")]
    assert f"n{simhost.token}" in out and "pid=2" in out  # PID 1 is the namespace holder
    assert simhost.json("ps", "-a")[0]["status"] == "exited (0)"


def test_foreground_exit_status_and_rm_flag(simhost):
    done = simhost.pynet("run", "--network", "none", "--rm", "--", "sh", "-c", "echo out; exit 7", check=False)
    assert done.returncode == 7 and done.stdout == "out\n"
    assert simhost.json("ps", "-a") == [] and simhost.states() == []


def test_host_mode_sees_the_host_links(simhost):
    simhost.ns.run("ip", "link", "add", "pnthost0", "type", "veth", "peer", "name", "pnthost1")
    simhost.pynet("run", "-d", "--name", "h", "--network", "host", "--", "sleep", "300")
    assert {"lo", "pnthost0", "pnthost1"} <= set(links(simhost, "h"))
    inode = simhost.sh("h", "stat -L -c %i /proc/self/ns/net").strip()
    assert inode == str(os.stat(simhost.ns.path).st_ino)
    simhost.pynet("rm", "-f", "h")
    assert "pnthost0" in simhost.ns.links()  # the host's links are the host's


def test_container_mode_shares_the_netns_and_reaches_its_services_on_localhost(simhost):
    simhost.pynet("run", "--network", "none", "-d", "--name", "srv",
                  "--", "sh", "-c", SERVE.format(bind="127.0.0.1", port=8000))
    simhost.pynet("run", "-d", "--name", "side", "--network", "container:srv", "--", "sleep", "300")
    same = simhost.sh("side", "readlink /proc/self/ns/net") == simhost.sh("srv", "readlink /proc/self/ns/net")
    assert same
    simhost.wait_for("side", "curl -sf -m2 http://127.0.0.1:8000/ >/dev/null")
    # a separate UTS namespace all the same: the joiner has its own hostname
    assert simhost.sh("side", "hostname").strip() == "side"
    assert [row["network"] for row in simhost.json("ps")] == ["none", "container:srv"]


def test_joining_a_container_that_is_not_running_is_refused(simhost):
    simhost.pynet("run", "--network", "none", "--name", "gone", "--", "true")
    line = error_line(simhost.pynet("run", "--network", "container:gone", "--", "true", check=False))
    assert "not running" in line
    line = error_line(simhost.pynet("run", "--network", "container:nobody", "--", "true", check=False))
    assert "no such container: nobody" in line


@pytest.fixture
def net(simhost):
    simhost.pynet("create", "bridge", "web", "--subnet", "10.77.0.0/24")
    return "web"


def test_bridge_two_containers_get_addresses_and_ping_each_other(simhost, net):
    for name in ("a", "b"):
        simhost.pynet("run", "-d", "--name", name, "--network", net, "--", "sleep", "300")
    rows = {row["name"]: row for row in simhost.json("ps")}
    a, b = rows["a"]["addresses"][0], rows["b"]["addresses"][0]
    assert a.startswith("10.77.0.") and b.startswith("10.77.0.") and a != b
    assert "eth0" in links(simhost, "a")
    assert " 0% packet loss" in simhost.sh("a", f"ping -c1 -W2 {b.split('/')[0]}")
    assert " 0% packet loss" in simhost.sh("b", f"ping -c1 -W2 {a.split('/')[0]}")
    assert simhost.sh("a", "ip route show default").startswith("default via 10.77.0.1")


def test_bridge_requested_ip(simhost, net):
    simhost.pynet("run", "-d", "--name", "fixed", "--network", net, "--ip", "10.77.0.50", "--", "sleep", "300")
    assert simhost.json("inspect", "fixed")["addresses"] == ["10.77.0.50/24"]


def test_published_port_is_reachable_from_outside(simhost, net, make_netns):
    outside = make_netns("o")
    link_outside(simhost.ns, outside)
    simhost.pynet("run", "-d", "--name", "www", "--network", net, "-p", "8080:8000",
                  "--", "sh", "-c", SERVE.format(bind="0.0.0.0", port=8000))
    simhost.wait_for("www", "curl -sf -m2 http://127.0.0.1:8000/ >/dev/null")
    fetched = outside.run("curl", "-sf", "-m5", "-o", "/dev/null", "-w", "%{http_code}", "http://192.0.2.1:8080/",
                          check=False)
    assert fetched.stdout == "200", fetched.stderr
    assert simhost.json("ps")[0]["ports"] == ["8080->8000/tcp"]


def test_rm_refuses_a_running_container_and_rm_f_leaves_nothing(simhost, net):
    cid = simhost.pynet("run", "-d", "--name", "doomed", "--network", net, "-p", "9090:90", "--",
                        "sleep", "300").stdout.strip()
    holder = simhost.states()[0]["holder"]["pid"]
    assert [n for n in simhost.ns.links() if n.startswith("pnv")]
    assert "is running" in error_line(simhost.pynet("rm", "doomed", check=False))
    simhost.pynet("rm", "-f", "doomed")
    assert not os.path.exists(f"/proc/{holder}") or open(f"/proc/{holder}/stat").read().split()[2] == "Z"
    assert not [n for n in simhost.ns.links() if n.startswith("pnv")]
    ruleset = simhost.ns.run("nft", "list", "ruleset").stdout
    assert cid not in ruleset and "10.77.0.2" not in ruleset and "9090" not in ruleset
    assert os.listdir(os.path.join(simhost.cache_dir, "results")) == []
    assert sorted(os.listdir(os.path.join(simhost.cache_dir, "networks", net))) == ["last_reserved_ip.0", "lock"]
    assert simhost.states() == [] and simhost.json("ps", "-a") == []


def test_rm_after_the_holder_died_and_rm_twice(simhost, net):
    simhost.pynet("run", "-d", "--name", "crash", "--network", net, "--", "sleep", "300")
    os.kill(simhost.states()[0]["holder"]["pid"], 9)  # the namespaces vanish with it
    assert simhost.json("inspect", "crash")["status"] == "dead"
    simhost.pynet("rm", "crash")
    # the kernel tears the dead namespace (and the veth pair in it) down in the background
    wait_until(lambda: not [n for n in simhost.ns.links() if n.startswith("pnv")], "the host end to go")
    assert os.listdir(os.path.join(simhost.cache_dir, "results")) == []
    assert "no such container" in error_line(simhost.pynet("rm", "crash", check=False))
    assert simhost.json("rm", "-f", "crash") == {"id": "", "name": "crash", "removed": False}  # -f: repeatable


def test_stop_logs_exec_inspect(simhost):
    simhost.pynet("run", "--network", "none", "-d", "--name", "talker",
                  "--", "sh", "-c", "echo hello; echo oops >&2; exec sleep 300")
    simhost.wait_for("talker", "true")
    assert simhost.sh("talker", "echo inside; hostname") == "inside\ntalker\n"
    info = simhost.json("inspect", "talker")
    assert info["status"] == "running" and info["network"] == "none" and info["command"][0] == "sh"
    simhost.pynet("stop", "-t", "1", "talker")
    assert simhost.json("inspect", "talker")["status"] == "exited (143)"
    assert simhost.pynet("logs", "talker").stdout == "hello\noops\n"
    assert "not running" in error_line(simhost.pynet("exec", "talker", "true", check=False))
    simhost.pynet("rm", "talker")


def test_removing_a_joined_container_leaves_the_joiner_with_loopback_only(simhost, net):
    simhost.pynet("run", "-d", "--name", "base", "--network", net, "--", "sleep", "300")
    simhost.pynet("run", "-d", "--name", "rider", "--network", "container:base", "--", "sleep", "300")
    assert "eth0" in links(simhost, "rider")
    simhost.pynet("rm", "-f", "base")
    assert links(simhost, "rider") == ["lo"]
    assert simhost.json("inspect", "rider")["status"] == "running"
    assert "container rider [running] the namespace of a removed container" in simhost.pynet("topology").stdout
    simhost.pynet("rm", "-f", "rider")


@busybox.needed
def test_rootfs_is_the_containers_root_with_its_own_proc(simhost, tmp_path):
    root = busybox.rootfs(tmp_path / "rootfs")
    (root / "marker").write_text("in the rootfs\n")
    out = simhost.pynet("run", "--network", "none", "--rootfs", str(root),
                        "--", "/bin/sh", "-c", "cat /marker; ls /; ps").stdout
    assert "in the rootfs" in out and "marker" in out and "work" not in out.split()
    pids = [line.split()[0] for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert pids == ["1", "2"]  # its own /proc: the holder and the shell (busybox sh execs ps)


@pytest.mark.parametrize("argv,message", [
    (["--network", "nosuchnet"], "no network named 'nosuchnet'"),
    (["--network", "none", "-p", "80:80"], "-p and --ip need a CNI network"),
    (["-p", "99999:80"], "invalid port"),
    (["-p", "80:80/icmp"], "invalid port"),
    (["--ip", "10.0.0.300"], "invalid --ip"),
    (["--name", "bad/name"], "invalid container name"),
    (["--rootfs", "/nonexistent"], "not a directory"),
])
def test_bad_run_input_is_one_line_and_creates_nothing(simhost, argv, message):
    done = simhost.pynet("run", *argv, "--", "true", check=False)
    assert message in error_line(done)
    assert simhost.states() == []


def test_no_command_and_duplicate_name(simhost):
    assert "no command" in error_line(simhost.pynet("run", "--name", "x", check=False))
    simhost.pynet("run", "--network", "none", "-d", "--name", "dup", "--", "sleep", "300")
    assert "already used" in error_line(simhost.pynet("run", "--network", "none", "--name", "dup",
                                                      "--", "true", check=False))
    assert len(simhost.states()) == 1


def test_a_port_already_published_fails_the_run_and_leaves_nothing(simhost, net):
    simhost.pynet("run", "-d", "--name", "first", "--network", net, "-p", "7070:70", "--", "sleep", "300")
    done = simhost.pynet("run", "-d", "--name", "second", "--network", net, "-p", "7070:70", "--", "sleep", "300",
                         check=False)
    assert "already published" in error_line(done)
    assert [s["name"] for s in simhost.states()] == ["first"]
    assert len([n for n in simhost.ns.links() if n.startswith("pnv")]) == 1
    assert len(os.listdir(os.path.join(simhost.cache_dir, "results"))) == 1


def test_ps_json_is_parseable_and_table_has_a_header(simhost):
    simhost.pynet("run", "--network", "none", "-d", "--name", "one", "--", "sleep", "300")
    rows = json.loads(simhost.pynet("ps", "--format", "json").stdout)
    assert [r["name"] for r in rows] == ["one"] and rows[0]["status"] == "running"
    header = simhost.pynet("ps").stdout.splitlines()[0]
    assert header.split()[:3] == ["CONTAINER", "ID", "NAME"]


@pytest.mark.parametrize("cleanup", [("rm", "-f", "half"), ("network", "gc")])
def test_a_run_killed_mid_attach_is_cleaned_by_rm_f_or_gc(simhost, net, cleanup):
    run = subprocess.Popen(["ip", "netns", "exec", simhost.ns.name, PYNET, "run", "-d", "--name", "half", "--network",
                            net, "-p", "6060:60", "--", "sleep", "300"], env=simhost.env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not [n for n in simhost.ns.links() if n.startswith("pnv")] and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)  # pynet and the plugin it runs, in the middle of the chain
    run.wait()
    assert [s["name"] for s in simhost.states()] == ["half"]
    assert simhost.json("inspect", "half")["status"] == "abandoned"
    simhost.pynet(*cleanup)
    assert simhost.states() == []
    time.sleep(0.2)  # a veth whose namespace just went disappears a moment later
    assert not [n for n in simhost.ns.links() if n.startswith("pnv")]
    store = os.path.join(simhost.cache_dir, "networks", net)  # killed before or after IPAM reserved
    assert not os.path.isdir(store) or not [f for f in os.listdir(store) if f[0].isdigit()]
    results = os.path.join(simhost.cache_dir, "results")
    assert not os.path.isdir(results) or os.listdir(results) == []
    assert "10.77.0.2" not in simhost.ns.run("nft", "list", "ruleset").stdout


def test_network_gc_deletes_attachments_of_containers_pynet_forgot(simhost, net):
    keep = simhost.pynet("run", "-d", "--name", "keep", "--network", net, "--", "sleep", "300").stdout.strip()
    lost = simhost.pynet("run", "-d", "--name", "lost", "--network", net, "-p", "5050:50", "--",
                         "sleep", "300").stdout.strip()
    state = next(s for s in simhost.states() if s["name"] == "lost")
    os.kill(state["holder"]["pid"], 9)  # as after a reboot: /run emptied, /var/lib/cni still there
    directory = os.path.join(simhost.run_dir, "containers", lost)
    deadline = time.monotonic() + 15  # the detached container's monitor records the exit status first
    while not os.path.exists(os.path.join(directory, "exit")) and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(directory)
    removed = simhost.json("network", "gc")
    assert removed == [{"network": net, "container_id": lost, "ifname": "eth0"}]
    assert [a["id"] for a in simhost.json("network", "inspect", net)["containers"]] == [keep]
    reserved = [f for f in os.listdir(os.path.join(simhost.cache_dir, "networks", net)) if f.startswith("10.")]
    assert len(reserved) == 1
    ruleset = simhost.ns.run("nft", "list", "ruleset").stdout
    assert lost not in ruleset and "5050" not in ruleset


def _limit_files(paths: list[str]) -> dict[str, str]:
    found = {}
    for path in paths:
        for name in ("memory.limit_in_bytes", "memory.max", "cpu.cfs_quota_us", "cpu.max"):
            if os.path.exists(os.path.join(path, name)):
                with open(os.path.join(path, name)) as f:
                    found[name] = f.read().strip()
    return found


def test_memory_and_cpu_limits_in_cgroups(simhost):
    simhost.pynet("run", "--network", "none", "-d", "--name", "lim", "--memory", "32m", "--cpus", "0.5",
                  "--", "sleep", "300", nsenter=True)
    paths = simhost.json("inspect", "lim")["cgroups"]
    limits = _limit_files(paths)
    assert limits.get("memory.limit_in_bytes", limits.get("memory.max")) == str(32 * 1024 ** 2)
    assert limits.get("cpu.cfs_quota_us") == "50000" or limits.get("cpu.max") == "50000 100000"
    inside = simhost.pynet("exec", "lim", "cat", "/proc/self/cgroup", nsenter=True).stdout
    assert all(os.path.basename(p) in inside for p in paths)  # exec joins them too
    simhost.pynet("rm", "-f", "lim")
    assert not any(os.path.exists(p) for p in paths)


def test_a_command_over_its_memory_limit_is_killed(simhost):
    done = simhost.pynet("run", "--network", "none", "--rm", "--memory", "32m",
                         "--", "python3", "-c", "x = bytearray(256 * 1024 * 1024)",
                         check=False, nsenter=True)
    assert done.returncode == 137, done.stderr
    assert simhost.states() == []  # --rm: cgroup included


@pytest.mark.parametrize("argv,message", [(["--memory", "12x"], "invalid --memory"), (["--memory", "1k"], "at least"),
                                          (["--cpus", "999"], "invalid --cpus"), (["--cpus", "x"], "invalid --cpus")])
def test_bad_limits(simhost, argv, message):
    assert message in error_line(simhost.pynet("run", *argv, "--", "true", check=False))
    assert simhost.states() == []


def test_limits_under_ip_netns_exec_too(simhost):
    """`ip netns exec` hides the cgroup mounts: pynet mounts them in a mount namespace of its own."""
    simhost.pynet("run", "--network", "none", "-d", "--name", "lim", "--memory", "64m", "--", "sleep", "300")
    paths = simhost.json("inspect", "lim")["cgroups"]
    assert all(os.path.isdir(p) for p in paths)  # seen from the machine's own mount namespace
    limits = _limit_files(paths)
    assert limits.get("memory.limit_in_bytes", limits.get("memory.max")) == str(64 * 1024 ** 2)
    assert os.path.basename(paths[0]) in simhost.pynet("exec", "lim", "cat", "/proc/self/cgroup").stdout
    simhost.pynet("rm", "-f", "lim")
    assert not any(os.path.exists(p) for p in paths)


def test_rm_uses_the_cached_config_once_the_network_file_is_gone(simhost, net):
    simhost.pynet("run", "-d", "--name", "stray", "--network", net, "--", "sleep", "300")
    os.unlink(os.path.join(simhost.conf_dir, f"{net}.conflist"))
    simhost.pynet("rm", "-f", "stray")
    assert not [n for n in simhost.ns.links() if n.startswith("pnv")]
    assert not [f for f in os.listdir(os.path.join(simhost.cache_dir, "networks", net)) if f[0].isdigit()]
    assert os.listdir(os.path.join(simhost.cache_dir, "results")) == []


def test_detached_with_rm_is_removed_when_its_command_ends(simhost, net):
    simhost.pynet("run", "-d", "--rm", "--name", "brief", "--network", net, "--", "sh", "-c", "sleep 0.5")
    deadline = time.monotonic() + 30
    while simhost.states() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert simhost.states() == []
    assert not [n for n in simhost.ns.links() if n.startswith("pnv")]
    assert os.listdir(os.path.join(simhost.cache_dir, "results")) == []


def test_ip_on_a_network_that_cannot_honour_it_is_refused_and_undone(simhost):
    simhost.pynet("create", "bridge", "noips", "--subnet", "10.78.0.0/24")
    path = os.path.join(simhost.conf_dir, "noips.conflist")
    with open(path) as f:
        doc = json.load(f)
    del doc["plugins"][0]["capabilities"]  # as many hand-written networks are
    with open(path, "w") as f:
        json.dump(doc, f)
    line = error_line(simhost.pynet("run", "--network", "noips", "--ip", "10.78.0.9", "--", "true", check=False))
    assert "did not give the container 10.78.0.9" in line
    assert simhost.states() == [] and not [n for n in simhost.ns.links() if n.startswith("pnv")]
    assert os.listdir(os.path.join(simhost.cache_dir, "results")) == []


def test_concurrent_runs_get_their_own_names_and_addresses(simhost, net):
    runs = [subprocess.Popen(["ip", "netns", "exec", simhost.ns.name, PYNET, "run", "-d", "--name", f"p{n}",
                              "--network", net, "--", "sleep", "300"], env=simhost.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for n in range(4)]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    rows = simhost.json("ps")
    assert sorted(r["name"] for r in rows) == ["p0", "p1", "p2", "p3"]
    assert len({r["addresses"][0] for r in rows}) == 4


def test_exec_passes_on_the_exit_status(simhost):
    simhost.pynet("run", "--network", "none", "-d", "--name", "ex", "--", "sleep", "300")
    assert simhost.pynet("exec", "ex", "sh", "-c", "exit 3", check=False).returncode == 3


@busybox.needed
def test_rootfs_gets_hostname_hosts_and_resolv_conf(simhost, net, tmp_path):
    root = busybox.rootfs(tmp_path / "rootfs")
    simhost.pynet("run", "-d", "--name", "box", "--network", net, "--rootfs", str(root), "--", "sleep", "300")
    address = simhost.json("inspect", "box")["addresses"][0].split("/")[0]
    assert simhost.sh("box", "cat /etc/hostname") == "box\n"
    assert f"{address}\tbox" in simhost.sh("box", "cat /etc/hosts")
    assert "127.0.0.53" not in simhost.sh("box", "cat /etc/resolv.conf")
    assert " 0% packet loss" in simhost.sh("box", "ping -c1 -W2 box")
    assert os.path.getsize(root / "etc" / "hosts") == 0  # the rootfs only got an empty mount point
    simhost.pynet("rm", "-f", "box")
