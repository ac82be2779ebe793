"""A simulated host for the `pynet` runtime and CLI: a network namespace of its own, with every
directory pynet uses (conf dir, result cache, run dir, plugin state, CNI_PATH) under the test's
tmp_path, so tests never touch the machine's /etc/cni/net.d, /run/pynet or /var/lib/cni.

Import the fixture into a test module: `from tests.integration.simhost import simhost  # noqa: F401`.
Teardown kills whatever containers a failed test left (holders take their processes with them).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time

import pytest

from cni.containers import cgroups
from cni.containers.namespaces import Proc, end
from tests.netns import dns_servers, install_plugins

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")


class SimHost:
    def __init__(self, ns, tmp_path, token) -> None:
        self.ns, self.token = ns, token
        self.run_dir = str(tmp_path / "run")
        self.conf_dir = str(tmp_path / "net.d")
        self.cache_dir = str(tmp_path / "cni")
        self.env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "PYNET_RUN_DIR": self.run_dir,
                    "PYNET_CNI_CONF_DIR": self.conf_dir, "PYNET_CNI_CACHE_DIR": self.cache_dir,
                    "PYNET_STATE_DIR": str(tmp_path / "state"), "CNI_PATH": install_plugins(tmp_path / "bin")}

    def pynet(self, *argv: str, check: bool = True, timeout: float = 120,
              nsenter: bool = False) -> subprocess.CompletedProcess:
        """`ip netns exec HOST pynet ARGV...` (`nsenter --net=HOST` keeps the machine's /sys and so its
        cgroup mounts); with `check`, a failure shows its stderr."""
        enter = ["nsenter", f"--net={self.ns.path}"] if nsenter else ["ip", "netns", "exec", self.ns.name]
        done = subprocess.run([*enter, PYNET, *argv], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"pynet {' '.join(argv)}: {done.stderr}"
        return done

    def json(self, *argv: str):
        return json.loads(self.pynet(*argv, "--format", "json").stdout)

    def sh(self, container: str, script: str, check: bool = True) -> str:
        """Run a shell script in a running container; its stdout."""
        return self.pynet("exec", container, "sh", "-c", script, check=check).stdout

    def wait_for(self, container: str, script: str, timeout: float = 30) -> str:
        """Run `script` in the container until it succeeds (a server starting on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while True:
            done = self.pynet("exec", container, "sh", "-c", script, check=False)
            if done.returncode == 0 or time.monotonic() > deadline:
                assert done.returncode == 0, done.stderr
                return done.stdout
            time.sleep(0.2)

    def states(self) -> list[dict]:
        found = []
        for path in glob.glob(os.path.join(self.run_dir, "containers", "*", "state.json")):
            with open(path) as f:
                found.append(json.load(f))
        return found

    def kill_all(self) -> None:
        """End every container left and remove its cgroups."""
        for state in self.states():
            end(Proc.load(state.get("holder")))
            cgroups.remove(state.get("cgroups") or [])

    def dns_server(self) -> int | None:
        """The pid of the host's DNS server, None if none serves (more than one: a bug)."""
        found = dns_servers(self.ns.path)
        assert len(found) <= 1, f"DNS servers {found} in {self.ns.name}"
        return found[0] if found else None


def error_line(done: subprocess.CompletedProcess) -> str:
    """The one line a failed command printed (and no traceback)."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def simhost(make_netns, tmp_path, token):
    host = SimHost(make_netns("h"), tmp_path, token)
    yield host
    host.kill_all()
