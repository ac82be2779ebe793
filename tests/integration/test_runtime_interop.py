"""A container of pynet's runtime, on a network `pynet create` made, is CHECKed and DELeted by the Go
reference libcni (Debian's 1.1.2, as in Podman 4) from pynet's result cache; `pynet rm` then finds
nothing left to undo. Skipped, with the reason, where Go or libcni's sources are missing."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests import interop
from tests.integration.simhost import simhost  # noqa: F401

pytestmark = pytest.mark.root


def test_go_libcni_checks_and_deletes_a_pynet_container(simhost):
    if interop.missing():
        pytest.skip(interop.missing())
    gocni = interop.build()
    simhost.pynet("create", "bridge", "gonet", "--subnet", "10.93.0.0/24")
    before = simhost.ns.snapshot()
    simhost.pynet("run", "-d", "--name", "g1", "--network", "gonet", "--", "sleep", "300")
    info = simhost.json("inspect", "g1")
    env = {**simhost.env, "CNI_CACHE_DIR": simhost.cache_dir}

    def go(command: str) -> None:
        done = subprocess.run(["nsenter", f"--net={simhost.ns.path}", gocni, command, simhost.conf_dir, "gonet",
                               info["id"], f"/proc/{info['holder']['pid']}/ns/net", "eth0"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"gocni {command}: {done.stderr}"

    go("check")
    go("del")
    assert os.listdir(os.path.join(simhost.cache_dir, "results")) == []
    assert "eth0" not in simhost.sh("g1", "ip -br link")
    simhost.pynet("rm", "-f", "g1")
    after = simhost.ns.snapshot()
    assert after["links"] == before["links"] | {"pn-gonet": after["links"]["pn-gonet"]}  # the bridge stays
