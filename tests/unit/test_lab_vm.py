"""`pynet lab up --vm`'s parts that need no VM: the command channel (its guest loop run here by busybox
sh, as in a VM), the checks before anything is made, and the clear errors of the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from cni.lab import hosts, vmhosts
from cni.lab.channel import Channel, ChannelTimeout, guest_loop
from cni.lab.image import missing

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")
SHELL = ["busybox", "sh"] if shutil.which("busybox") else ["sh"]


@pytest.fixture
def guest(tmp_path):
    """The guest's loop on a share directory, run by busybox sh on this machine; stopped afterwards."""
    loop = subprocess.Popen([*SHELL, "-c", guest_loop(str(tmp_path), "sh", 0.05)], start_new_session=True)
    yield Channel(str(tmp_path))
    os.killpg(loop.pid, 9)
    loop.wait()


def test_channel_runs_scripts_with_their_output_and_status(guest):
    assert guest.run("echo out; echo err >&2; exit 3", timeout=10) == (3, "out\nerr\n")
    assert guest.run("true", timeout=10) == (0, "")
    assert os.listdir(guest.out) == [] and os.listdir(guest.cmd) == []  # nothing piles up


def test_channel_runs_scripts_side_by_side_and_streams(guest):
    slow = guest.send("echo first; sleep 1; echo second")
    assert guest.run("echo quick", timeout=10) == (0, "quick\n")  # not behind the slow one
    pieces = []
    assert guest.wait(slow, 10, stream=pieces.append) == (0, "first\nsecond\n")
    assert "".join(pieces) == "first\nsecond\n"


def test_channel_gives_up_on_a_gone_vm_or_after_the_timeout(tmp_path):
    channel = Channel(str(tmp_path))  # no guest loop: nobody answers
    with pytest.raises(ChannelTimeout, match="not running"):
        channel.run("true", timeout=10, alive=lambda: False)
    with pytest.raises(ChannelTimeout, match="no answer in 0 s"):
        channel.run("true", timeout=0.2)


def test_ping_script_retries_each_address():
    script = vmhosts.ping_script(42, ["10.213.1.2", "10.213.2.2"], tries=5)
    assert script.count("nsenter -t 42 -n ping -c1 -W1 10.213.1.2") == 1 and "10.213.2.2" in script
    assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0  # valid sh


def test_guest_script_is_valid_sh_and_runs_this_pynet():
    web = {"name": "pnlab-web", "network": "blue", "command": ["python3", "-m", "http.server", "80"],
           "publish": ["8080:80"]}
    script = vmhosts.guest_script([web, {**web, "name": "pnlab-c2", "command": ["sleep", "infinity"], "publish": []}],
                                  ["blue", "red"], "off")
    assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0
    assert f"PYTHONPATH={vmhosts.ROOT}" in script and "PYNET_AGENT=off" in script
    assert "run -d --name pnlab-web --network blue -p 8080:80 -- python3 -m http.server 80 " in script
    assert " run -d --name pnlab-c2 --network blue -- sleep infinity " in script
    assert "overlay member --network blue " in script and "overlay member --network red " in script
    assert "modprobe -a nf_tables " in script  # portmap's, for web's published port
    assert "modprobe" not in vmhosts.guest_script([{**web, "publish": []}], ["blue"], "off")


@pytest.mark.parametrize("count, store, message", [
    (2, "file", "leave out --store file"),
    (1, "etcd", "at least 2 hosts"),
    (9, "etcd", "at most 2 VMs at once (PYNET_VM_MAX)"),
])
def test_checks_before_anything_is_made(count, store, message, monkeypatch):
    monkeypatch.setenv("PYNET_VM_MAX", "2")
    monkeypatch.delenv("PYNET_VM_KERNEL", raising=False)
    if store == "etcd" and missing():  # that is said first
        pytest.skip(f"no VM here: {missing()}")
    with pytest.raises(hosts.LabError) as raised:
        vmhosts._check(count, store)
    assert message in str(raised.value)


def test_a_bad_lab_prefix_is_refused(monkeypatch):
    monkeypatch.setenv("PYNET_LAB_PREFIX", "Bad_Prefix")
    with pytest.raises(hosts.LabError, match="PYNET_LAB_PREFIX"):
        hosts.prefix()


@pytest.mark.parametrize("env, argv, message", [
    ({"PYNET_VM_KERNEL": "/nonexistent/vmlinuz"}, [], "--vm needs qemu, a kernel with its modules and busybox-static: "
                                                      "PYNET_VM_KERNEL=/nonexistent/vmlinuz does not exist"),
    ({}, ["--store", "file"], "leave out --store file"),
    ({"PYNET_VM_MAX": "1"}, [], "this machine runs at most 1 VMs at once"),
])
def test_the_command_line_says_what_is_wrong(env, argv, message, tmp_path):
    if env.get("PYNET_VM_MAX") and missing():
        pytest.skip(f"no VM here: {missing()}")
    done = subprocess.run([PYNET, "lab", "up", "--vm", *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYNET_LAB_DIR": str(tmp_path / "lab"), **env})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("pynet: ") and message in done.stderr and "Traceback" not in done.stderr
    assert not os.path.exists(tmp_path / "lab")  # nothing was made
