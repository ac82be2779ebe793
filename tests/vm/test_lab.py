"""The VM lab itself (cni/lab/vm.py), on this machine: two VMs on the lab bridge, the guest kernel's
modules, the shares, and that nothing is left behind, also when a VM has to be killed."""

from __future__ import annotations

import os
import subprocess

import pytest

from cni.lab.image import missing
from cni.lab.vm import Lab

pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(missing()), reason=f"no VM: {missing()}")]

# VM N pings the other VM (retrying while it boots), then checks modules and the read-only host /.
GUEST = """P=$((3 - VMLAB_N)); i=0
while [ $i -lt 120 ] && ! ping -c1 -W1 10.77.0.$P >/dev/null 2>&1; do i=$((i+1)); done
ping -c1 -W2 10.77.0.$P >/dev/null && echo peer > /tmp/share/ok
for m in ipvlan macvlan 8021q vxlan dummy veth bridge; do [ -d /sys/module/$m ] && echo $m >> /tmp/share/ok; done
touch /hostfs/pynet-readonly-probe 2>/dev/null || echo readonly >> /tmp/share/ok
hostrun / cat /etc/debian_version > /tmp/share/debian
sleep 3  # the peer may still be pinging
"""


def leftovers(lab: Lab) -> list[str]:
    found = [lab.netns] if os.path.exists(f"/run/netns/{lab.netns}") else []
    found += [lab.workdir] if os.path.exists(lab.workdir) else []
    return found + [f"qemu {vm.process.pid}" for vm in lab.vms if vm.process.poll() is None]


def test_two_vms_on_the_lab_bridge():
    with Lab(size=2) as lab:
        vms = [lab.boot(GUEST), lab.boot(GUEST)]
        codes = [vm.wait(180) for vm in vms]
        assert codes == [0, 0], [vm.console()[-2000:] for vm in vms]
        for vm in vms:
            assert "VMLAB-READY" in vm.console() and "kernel=" in vm.console()
            with open(os.path.join(vm.share, "ok")) as f:
                assert f.read().split() == ["peer", "ipvlan", "macvlan", "8021q", "vxlan", "dummy", "veth", "bridge",
                                            "readonly"]
            with open(os.path.join(vm.share, "debian")) as f, open("/etc/debian_version") as mine:
                assert f.read() == mine.read()
    assert not leftovers(lab)


def test_a_vm_that_does_not_finish_is_killed_and_removed():
    with Lab() as lab:
        vm = lab.boot("sleep 600")
        assert vm.wait(20) is None and vm.process.poll() is not None
    assert not leftovers(lab)
    assert lab.netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
