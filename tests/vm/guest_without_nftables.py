"""Runs inside a VM (see conftest.py), whose kernel has nf_tables as a module that nothing loads:
pynet-bridge on a host without nftables. libnftables ends its process with exit(3) when the kernel
refuses its netlink socket; pynet asks the kernel first, so a DEL has nothing to remove and an ADD
that needs the firewall gets a CNI error, in the plugin's process and in the agent's workers."""

from __future__ import annotations

import _socket
import shutil
import tempfile

import pytest

from cni.firewall.libnft import NETLINK_NETFILTER
from tests.netns import install_plugins, plugin_path, run_plugin
from tests.netns.namespaces import wait_until
from tests.netns.state import snapshot

pytestmark = pytest.mark.root

BRIDGE = plugin_path("bridge")


def nftables_netlink() -> bool:
    try:
        _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, NETLINK_NETFILTER).close()
    except OSError:
        return False
    return True


@pytest.fixture
def lab(make_netns, tmp_path, token):
    assert not nftables_netlink(), "this VM's kernel was meant to have no nf_tables netlink"
    run = tempfile.mkdtemp(prefix="pynet-test-", dir="/run")  # the agent's socket path stays short
    yield {"host": make_netns("h"), "c1": make_netns("a"), "cni_path": install_plugins(tmp_path / "bin"),
           "data": str(tmp_path / "ipam"), "bridge": f"pnz{token}"[:11], "log": tmp_path / "agent.log",
           "env": {"PYNET_RUN_DIR": run, "PYNET_DEBUG": "1", "PYNET_LOG_FILE": str(tmp_path / "agent.log")}}
    shutil.rmtree(run, ignore_errors=True)


def conf(lab, **extra) -> dict:
    return {"cniVersion": "1.0.0", "name": "nonft", "type": "bridge", "bridge": lab["bridge"],
            "ipam": {"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": "10.63.0.0/24"}]]}, **extra}


def cni(lab, command, config, agent: str):
    return run_plugin(BRIDGE, command, config, netns=lab["c1"].path, container_id="id-c1", cni_path=lab["cni_path"],
                      host=lab["host"].name, env={**lab["env"], "PYNET_AGENT": agent})


def start_agent(lab) -> None:
    """The first call runs in its own process and starts the agent, which serves the next ones."""
    assert cni(lab, "DEL", conf(lab), "auto").ok
    wait_until(lambda: lab["log"].exists() and "serving" in lab["log"].read_text(), "the agent", timeout=60)


def served(lab, command: str) -> bool:
    """The agent's worker ran `command` and is still alive."""
    text = lab["log"].read_text()
    return f"served bridge {command} container id-c1" in text and "ended (status" not in text


@pytest.mark.parametrize("agent", ["off", "auto"])
def test_del_has_nothing_to_remove(agent, lab):
    config = conf(lab)
    if agent == "auto":
        start_agent(lab)
    added = cni(lab, "ADD", config, agent)
    assert added.ok, added.stdout
    for _ in range(2):
        deleted = cni(lab, "DEL", {**config, "prevResult": added.json}, agent)
        assert deleted.ok, deleted.stdout + deleted.stderr
    assert "eth0" not in lab["c1"].links()
    assert agent == "off" or served(lab, "DEL")


@pytest.mark.parametrize("agent", ["off", "auto"])
def test_add_that_needs_the_firewall_is_a_clear_error(agent, lab):
    if agent == "auto":
        start_agent(lab)
    before = snapshot(lab["host"].run)
    added = cni(lab, "ADD", conf(lab, ipMasq=True), agent)
    assert added.returncode == 1 and added.json["code"] == 50, added.stdout + added.stderr
    assert "nftables" in added.json["msg"] and "modprobe nf_tables" in added.json["details"]
    assert "eth0" not in lab["c1"].links()
    assert snapshot(lab["host"].run)["links"] == before["links"]
    assert agent == "off" or served(lab, "ADD")
