"""An agent that starts removes what dead agents left in the run directory (cni.agent.supervisor.sweep)."""

import fcntl
import os

from cni.agent.supervisor import sweep


def touch(path):
    with open(path, "w") as f:
        f.write("1 build\n")


def test_sweep_removes_unheld_agents_only(tmp_path):
    for name in ("agent-net1.sock", "agent-net1.sock.lock", "agent-net2.sock", "agent-net2.sock.lock",
                 "agent-net3.sock", "agent-net3.sock.lock", "agent.sock", "agent.sock.lock", "iptables.lock"):
        touch(tmp_path / name)
    with open(tmp_path / "agent-net2.sock.lock") as held:  # a live agent holds its lock
        fcntl.flock(held, fcntl.LOCK_EX)
        sweep(str(tmp_path), keep=str(tmp_path / "agent-net3.sock"))
    assert sorted(os.listdir(tmp_path)) == ["agent-net2.sock", "agent-net2.sock.lock", "agent-net3.sock",
                                            "agent-net3.sock.lock", "agent.sock", "agent.sock.lock", "iptables.lock"]
