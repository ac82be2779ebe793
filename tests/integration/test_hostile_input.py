"""Hostile input through the real executables: each is a CNI error with a spec code (never 100, never
a traceback), answered at once, and nothing is created; relative paths land where the reference puts
them, in a plugin process and through the agent alike.

Run this file both ways (PYNET_AGENT=off and the default); the path test does both in itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from cni.agent import wire
from tests.netns import install_plugins, plugin_path, run_plugin, wait_until
from tests.netns.lan import lan_conf, lan_lab

pytestmark = pytest.mark.root

TIMEOUT = 20  # a plugin that blocks (a FIFO) or reads without end (/dev/zero) fails the test here


@pytest.fixture
def lab(make_netns, tmp_path):
    """A host with an uplink m0 (for macvlan), a container, a dataDir; the host's snapshot."""
    lab = lan_lab(make_netns, tmp_path)
    lab["tmp"] = tmp_path
    lab["cni_path"] = install_plugins(tmp_path / "bin")  # ipam.type runs what CNI_PATH resolves it to
    return lab


def bridge_conf(lab, **extra) -> dict:
    return {"cniVersion": "1.0.0", "name": "hostnet", "type": "bridge", "bridge": "pnbhostile", "isGateway": True,
            "ipMasq": True, "ipam": {"type": "host-local", "dataDir": lab["data"],
                                     "ranges": [[{"subnet": "10.77.0.0/24"}]]}, **extra}


def run(lab, plugin: str, config=None, *, env=None, stdin=None, command="ADD", netns=None, args=""):
    env = {"PYNET_STATE_DIR": str(lab["tmp"] / "state"), **(env or {})}  # the overlay's and tuning's state
    return run_plugin(plugin_path(plugin), command, config, netns=netns or lab["c1"].path, container_id="id-c1",
                      args=args, cni_path=lab["cni_path"], host=lab["host"].name, env=env,
                      stdin=stdin, timeout=TIMEOUT)


def refused(lab, plugin: str, config=None, code: int = 7, *words, **kw) -> dict:
    """The plugin answers one CNI error of `code` naming `words`, and the host and container are as before."""
    host, container = lab["host"].snapshot(), lab["c1"].snapshot()
    answer = run(lab, plugin, config, **kw)
    assert answer.returncode == 1 and "Traceback" not in answer.stderr, (answer.stdout, answer.stderr)
    error = json.loads(answer.stdout)
    assert error["code"] == code, error
    text = error["msg"] + " " + error["details"]
    assert all(word in text for word in words), error
    assert lab["host"].snapshot() == host and lab["c1"].snapshot() == container
    return error


def reservations(lab, network: str = "hostnet") -> list[str]:
    directory = os.path.join(lab["data"], network)
    return sorted(n for n in os.listdir(directory) if n[0].isdigit()) if os.path.isdir(directory) else []


# ---- interface names -------------------------------------------------------------------------

# '%' makes the kernel choose the name (eth%d becomes eth0 while the result says eth%d); "\udcff" is
# the byte 0xff (not UTF-8) as os.environ and subprocess carry it
BAD_IFNAMES = ["eth%d", "%d", "a/b", "a:b", "a b", "e\udcff", "x" * 16, ".", ".."]


@pytest.mark.parametrize("plugin", ["bridge", "macvlan"])
@pytest.mark.parametrize("ifname", BAD_IFNAMES, ids=repr)
def test_bad_cni_ifname_is_code_4_before_anything_is_created(lab, plugin, ifname):
    config = bridge_conf(lab) if plugin == "bridge" else lan_conf(lab, "macvlan", "bridge")
    refused(lab, plugin, config, 4, "CNI_IFNAME", env={"CNI_IFNAME": ifname})
    assert reservations(lab) == reservations(lab, "lannet") == []


@pytest.mark.parametrize("plugin,change,words", [
    ("bridge", {"bridge": "br%d"}, "bridge name"),
    ("bridge", {"bridge": "br 0"}, "bridge name"),
    ("bridge", {"bridge": "br/0"}, "bridge name"),
    ("macvlan", {"master": "m%d"}, "master"),
    ("macvlan", {"master": "m" * 16}, "master"),
    ("overlay", {"bridge": "pno%d"}, "bridge"),
    ("overlay", {"underlay": "u" * (1 << 19)}, "underlay"),
    ("tuning", {"prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "e" * (1 << 19)}]}},
     "prevResult.interfaces[0].name"),
    ("portmap", {"prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth%d"}]}},
     "prevResult.interfaces[0].name"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_names_in_the_configuration_are_code_7(lab, plugin, change, words):
    base = {"bridge": bridge_conf(lab), "macvlan": lan_conf(lab, "macvlan", "bridge"),
            "overlay": {"cniVersion": "1.0.0", "name": "ov1", "type": "overlay", "vni": 42,
                        "network": "10.244.0.0/16", "underlay": "m0",
                        "store": {"type": "file", "path": str(lab["tmp"] / "store.json")}},
            }.get(plugin, {"cniVersion": "1.0.0", "name": "chained", "type": plugin})
    refused(lab, plugin, {**base, **change}, 7, words)
    assert not (lab["tmp"] / "store.json").exists()


# found by the fuzz test: a list where a name is expected was code 100 (unhashable), a number
# where an address is expected was taken for one (5 is 0.0.0.5)
PREV = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": [{"address": "10.77.0.5/24"}]}


@pytest.mark.parametrize("plugin,change,code,words", [
    ("firewall", {"backend": ["nftables"]}, 2, "backend"),
    ("macvlan", {"mode": ["bridge"]}, 7, "mode"),
    ("overlay", {"network": 5}, 7, "network"),
    ("portmap", {"runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "hostIP": 5}]}}, 7,
     "hostIP"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_values_of_the_wrong_type_are_refused(lab, plugin, change, code, words):
    base = {"macvlan": lan_conf(lab, "macvlan", "bridge"),
            "overlay": {"cniVersion": "1.0.0", "name": "ov1", "type": "overlay", "vni": 42, "underlay": "m0",
                        "store": {"type": "file", "path": str(lab["tmp"] / "store.json")}},
            }.get(plugin, {"cniVersion": "1.0.0", "name": "chained", "type": plugin, "prevResult": PREV,
                           "capabilities": {"portMappings": True}})
    refused(lab, plugin, {**base, **change}, code, words)


# ---- MAC addresses ---------------------------------------------------------------------------

@pytest.mark.parametrize("plugin", ["bridge", "macvlan"])
@pytest.mark.parametrize("where", ["runtimeConfig", "CNI_ARGS"])
def test_a_mac_that_is_not_one_is_code_7(lab, plugin, where):
    config = bridge_conf(lab) if plugin == "bridge" else lan_conf(lab, "macvlan", "bridge")
    if where == "runtimeConfig":
        refused(lab, plugin, {**config, "capabilities": {"mac": True}, "runtimeConfig": {"mac": "zz:zz"}}, 7,
                "runtimeConfig.mac", "zz:zz")
    else:
        refused(lab, plugin, config, 7, "CNI_ARGS MAC", "zz:zz", args="IgnoreUnknown=1;MAC=zz:zz")


# ---- paths and files -------------------------------------------------------------------------

def test_a_nul_byte_in_data_dir_is_code_7(lab):
    config = bridge_conf(lab)
    config["ipam"]["dataDir"] = lab["data"] + "\0x"
    refused(lab, "bridge", config, 7, "ipam.dataDir", "NUL")


@pytest.fixture
def fifo(tmp_path):
    path = str(tmp_path / "fifo")
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "fifo", "directory"])
def test_resolv_conf_that_never_ends_or_never_opens_is_code_5(lab, target, fifo):
    path = {"fifo": fifo, "directory": str(lab["tmp"])}.get(target, target)
    config = bridge_conf(lab)
    config["ipam"]["resolvConf"] = path
    refused(lab, "bridge", config, 5, "ipam.resolvConf", "not a regular file")
    assert reservations(lab) == []


@pytest.mark.parametrize("plugin", ["bridge", "macvlan", "loopback", "tuning"])
def test_a_fifo_as_cni_netns_is_code_4(lab, plugin, fifo):
    config = {"bridge": bridge_conf(lab), "macvlan": lan_conf(lab, "macvlan", "bridge")}.get(
        plugin, {"cniVersion": "1.0.0", "name": "n", "type": plugin})
    refused(lab, plugin, config, 4, "CNI_NETNS", "FIFO", netns=fifo)


def test_a_fifo_as_the_overlay_store_is_code_5(lab, fifo):
    config = {"cniVersion": "1.0.0", "name": "ov1", "type": "overlay", "vni": 42, "network": "10.244.0.0/16",
              "underlay": "m0", "store": {"type": "file", "path": fifo}}
    lab["host"].run("ip", "addr", "add", "192.168.50.1/24", "dev", "m0")
    before = sorted(os.listdir(lab["tmp"]))
    refused(lab, "overlay", config, 5, "store", "FIFO", env={"PYNET_STATE_DIR": str(lab["tmp"] / "state")})
    assert sorted(os.listdir(lab["tmp"])) == sorted(before + ["fifo.lock", "state"])


def test_stdin_without_end_is_refused_at_one_mib(lab):
    with open("/dev/zero", "rb") as zero:  # what a runtime passing the wrong file would send
        done = subprocess.run(["ip", "netns", "exec", lab["host"].name, plugin_path("bridge")], stdin=zero,
                              capture_output=True, timeout=TIMEOUT,
                              env={**os.environ, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "id-c1",
                                   "CNI_NETNS": lab["c1"].path, "CNI_IFNAME": "eth0"})
    error = json.loads(done.stdout)
    assert done.returncode == 1 and error["code"] == 7 and "too large" in error["msg"]


# ---- relative paths: against the caller's working directory, both ways ------------------------

@pytest.fixture
def agent_run():
    """A run directory of the test's own for the agent (its socket path must stay short)."""
    parent = tempfile.mkdtemp(prefix="pynet-test-", dir="/run")
    yield os.path.join(parent, "run")
    shutil.rmtree(parent, ignore_errors=True)


def test_relative_paths_resolve_against_the_callers_directory_both_ways(lab, agent_run):
    """As the reference does: a relative dataDir or resolvConf is relative to the runtime's working
    directory (the plugin's), not to the agent's (/); so is it for host-local run as a process of its
    own by the bridge (PYNET_IPAM_EXEC=1, or another executable in CNI_PATH)."""
    work = lab["tmp"] / "runtime" / "cwd"
    work.mkdir(parents=True)
    (work / "resolv.conf").write_text("nameserver 10.77.0.53\n")
    log = lab["tmp"] / "agent.log"
    environ = {"PATH": os.environ["PATH"], "PYNET_RUN_DIR": agent_run, "PYNET_DEBUG": "1", "PYNET_LOG_FILE": str(log),
               "CNI_NETNS": lab["c1"].path, "CNI_PATH": lab["cni_path"]}

    def bridge(command: str, config: dict, mode: str, n: int):
        env = {**environ, "PYNET_AGENT": mode.split("+")[0], "CNI_COMMAND": command, "CNI_CONTAINERID": f"id-{n}",
               "CNI_IFNAME": f"eth{n}", "PYNET_IPAM_EXEC": "1" if mode.endswith("+exec") else "0"}
        return subprocess.run(["ip", "netns", "exec", lab["host"].name, plugin_path("bridge")], cwd=work,
                              input=json.dumps(config).encode(), env=env, capture_output=True, timeout=60)

    assert bridge("DEL", bridge_conf(lab), "auto", 9).returncode == 0  # starts the host's agent
    socket_path = wire.socket_path({"PYNET_RUN_DIR": agent_run}, os.stat(lab["host"].path).st_ino)
    wait_until(lambda: os.path.exists(socket_path), "the agent", timeout=20)
    for n, (mode, data_dir) in enumerate((("off", "data"), ("auto", "data"), ("off", "../x"), ("auto", "../x"),
                                          ("off+exec", "data"), ("auto+exec", "../x"))):
        config = bridge_conf(lab, name=f"rel{n}")
        config["ipam"].update(dataDir=data_dir, resolvConf="resolv.conf")
        added = bridge("ADD", config, mode, n)
        assert added.returncode == 0, added.stdout
        assert json.loads(added.stdout)["dns"] == {"nameservers": ["10.77.0.53"]}
        store = os.path.normpath(work / data_dir / config["name"])
        assert "10.77.0.2" in os.listdir(store), (mode, data_dir)
        assert (f"served bridge ADD container id-{n}" in log.read_text()) is mode.startswith("auto")
        assert bridge("DEL", config, mode, n).returncode == 0
        assert "10.77.0.2" not in os.listdir(store)


def test_a_caller_in_a_chroot_of_its_own_mount_namespace_has_its_directory_found(lab, agent_run):
    """A runtime in another mount namespace and root (the VM lab's hostrun, a runtime in a
    container): its /proc/PID/cwd reads as a path from its namespace's root, which names nothing in
    the agent's; its relative dataDir, and host-local run as a process of its own, still land in its
    directory."""
    work = lab["tmp"] / "chrooted" / "cwd"
    work.mkdir(parents=True)
    root = lab["tmp"] / "root"
    root.mkdir()
    environ = {"PATH": os.environ["PATH"], "PYNET_RUN_DIR": agent_run, "PYNET_AGENT": "auto",
               "CNI_NETNS": lab["c1"].path, "CNI_PATH": lab["cni_path"], "CNI_IFNAME": "eth0"}
    chrooted = ("mount --rbind / \"$1\" && exec chroot \"$1\" sh -c 'cd \"$0\" && exec ip netns exec \"$1\" \"$2\"'"
                " \"$2\" \"$3\" \"$4\"")  # as the VM lab's hostrun: chroot, then cd

    def bridge(command: str, config: dict, exec_ipam: bool):
        env = {**environ, "CNI_COMMAND": command, "CNI_CONTAINERID": "id-1", "PYNET_IPAM_EXEC": str(int(exec_ipam))}
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", chrooted, "sh", root,
                               work, lab["host"].name, plugin_path("bridge")],
                              input=json.dumps(config).encode(), env=env, capture_output=True, timeout=60)

    assert bridge("DEL", bridge_conf(lab), False).returncode == 0  # starts the host's agent
    socket_path = wire.socket_path({"PYNET_RUN_DIR": agent_run}, os.stat(lab["host"].path).st_ino)
    wait_until(lambda: os.path.exists(socket_path), "the agent", timeout=20)
    for exec_ipam in (False, True):
        config = bridge_conf(lab, name=f"chrooted{int(exec_ipam)}")
        config["ipam"]["dataDir"] = "data"
        added = bridge("ADD", config, exec_ipam)
        assert added.returncode == 0, added.stdout
        assert "10.77.0.2" in os.listdir(work / "data" / config["name"])
        assert bridge("DEL", config, exec_ipam).returncode == 0
        assert "10.77.0.2" not in os.listdir(work / "data" / config["name"])
    assert not os.listdir(root)  # the chroot's mount stayed in the callers' namespaces


# ---- size ------------------------------------------------------------------------------------

def test_ten_thousand_range_sets_are_refused_at_once(lab):
    config = bridge_conf(lab)
    config["ipam"]["ranges"] = [[{"subnet": f"10.{n // 256}.{n % 256}.0/24"}] for n in range(10000)]
    refused(lab, "bridge", config, 7, "too many address ranges", "64 range sets")
