"""A lab made through the command line, as a user makes one (`pynet lab up`), for tests that use it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")


class Lab:
    """`pynet lab up ARGS` with names of its own (other labs may be up); `down()` removes it."""

    def __init__(self, *argv: str) -> None:
        self.prefix = f"pnn{secrets.token_hex(2)}-"
        self.dir = tempfile.mkdtemp(prefix="pnlab")
        self.env = {**os.environ, "PYNET_LAB_DIR": self.dir, "PYNET_LAB_PREFIX": self.prefix}
        self.desc = json.loads(self.pynet("--format", "json", "lab", "up", *argv).stdout)

    def pynet(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([PYNET, *argv], capture_output=True, text=True, env=self.env, timeout=120)
        assert not check or done.returncode == 0, f"pynet {' '.join(argv)}: {done.stderr}"
        return done

    def on(self, host: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.pynet("lab", "on", str(host), "--", *argv, check=check)

    def container(self, n: int) -> str:
        return f"{self.prefix}c{n}"

    def address(self, n: int) -> str:
        return self.desc["hosts"][n - 1]["address"].split("/")[0]

    def resolves(self, host: int, name: str) -> str:
        """What `getent hosts NAME` says in host `host`'s lab container ("" for nothing)."""
        done = self.on(host, "exec", self.container(host), "getent", "hosts", name, check=False)
        return done.stdout.split()[0] if done.returncode == 0 else ""

    def store_names(self) -> list[str]:
        with open(self.desc["config"]["store"]["path"]) as f:
            return [k for k in json.load(f)["records"] if "/names/" in k]

    def records(self, host: int) -> list[str]:
        where = os.path.join(self.dir, f"h{host}", "dns", "records")
        return os.listdir(where) if os.path.isdir(where) else []

    def down(self) -> None:
        """`pynet lab down`; then no process of the lab is left (a container's holder included)."""
        self.pynet("lab", "down", check=False)
        deadline = time.monotonic() + 5  # (a process a killed one started may take a moment to go)
        while processes_of(self.dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_of(self.dir) == []


def processes_of(directory: str) -> list[int]:
    """The processes whose environment names `directory` (a lab's hosts' pynet directories are under it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if directory.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found
