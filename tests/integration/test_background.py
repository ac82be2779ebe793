"""cni.kernel.background: a one-shot plugin process answers and exits at once; what the kernel still
owes (releasing netfilter sockets after a deletion) is left to a child without the runtime's pipes."""

from __future__ import annotations

import subprocess
import sys

from cni.kernel.netns import pids_in
from tests.netns.namespaces import wait_until

ONE_SHOT = """
import sys
from cni.kernel import background
from cni.firewall import libnft
background.mark_one_shot()
table = "inet pnbg" + sys.argv[1]
status, _, err = libnft.run(f"add table {table}\\nadd set {table} s {{ type ipv4_addr; }}\\n"
                            f"add element {table} s {{ 10.0.0.1 }}")
assert status == 0, err
status, _, err = libnft.run(f"delete element {table} s {{ 10.0.0.1 }}\\ndelete table {table}")
assert status == 0, err
print("answer", libnft.lingering(), end="")
background.exit_now(3)
"""


def test_the_process_exits_with_its_answer_and_a_child_releases_its_sockets(host, token):
    done = subprocess.run(["ip", "netns", "exec", host.name, sys.executable, "-c", ONE_SHOT, token],
                          capture_output=True, text=True, timeout=30)  # (ends when the pipes do: no child holds them)
    assert (done.returncode, done.stdout) == (3, "answer True"), done.stderr
    assert f"pnbg{token}" not in host.run("nft", "list", "tables").stdout
    wait_until(lambda: not pids_in(host.path), "the child that held the sockets to exit", timeout=10)


def test_without_netfilter_handles_no_child_is_made(host):
    script = "from cni.kernel import background\nbackground.mark_one_shot()\nprint('answer', end='')\nbackground.exit_now(0)"
    done = subprocess.run(["ip", "netns", "exec", host.name, sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "answer")
    assert not pids_in(host.path)


STARTER = """
import os, sys
from cni.kernel import background
keep = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
other = os.open(os.devnull, os.O_RDONLY)  # not kept: closed in the grandchild
os.set_inheritable(other, True)

def is_open(fd):
    try:
        return bool(os.fstat(fd))
    except OSError:
        return False

def run():
    os.write(keep, f"{os.getppid()} {os.getsid(0) == os.getpid()} {os.getpid()} {is_open(other)}\\n".encode())
    os._exit(0)

background.start_detached(run, keep=(keep,))
print(os.getpid(), end="")
"""


def test_start_detached_leaves_a_grandchild_of_its_own_session_with_only_the_files_kept(tmp_path):
    out = tmp_path / "out"
    out.touch()
    done = subprocess.run([sys.executable, "-c", STARTER, str(out)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr  # (and returned: the pipes were not held by the grandchild)
    wait_until(lambda: out.read_text().endswith("\n"), "the grandchild to write", timeout=10)
    parent, leader, pid, other = out.read_text().split()  # (written through the file kept)
    assert parent != done.stdout and pid != done.stdout  # not the starter's child: nothing for it to reap
    assert (leader, other) == ("False", "False")  # in the session its parent made, not leading it
