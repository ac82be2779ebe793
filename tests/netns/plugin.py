"""Run plugin executables exactly as a runtime does: CNI_* environment, config on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

REFERENCE_DIR = os.environ.get("PYNET_REFERENCE_DIR", "/usr/lib/cni")


def plugin_path(name: str) -> str:
    """pynet's executable for plugin `name` (the console script next to this Python)."""
    return os.path.join(os.path.dirname(sys.executable), f"pynet-{name}")


def install_plugins(directory) -> str:
    """pynet's plugins under the reference names in `directory`, for a CNI_PATH; returns it."""
    pynet = os.path.join(os.path.dirname(sys.executable), "pynet")
    subprocess.run([pynet, "plugins", "install", "--dir", str(directory), "--names", "reference"], check=True,
                   capture_output=True)
    return str(directory)


def reference_path(name: str) -> str:
    """The Go reference plugin `name` (Debian containernetworking-plugins)."""
    return os.path.join(REFERENCE_DIR, name)


@dataclass
class PluginRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_plugin(executable: str, command: str | None, config=None, *, netns: str = "", container_id: str = "c1",
               ifname: str = "eth0", args: str = "", cni_path: str = "", host: str | None = None,
               env: dict | None = None, stdin: bytes | None = None, timeout: float | None = None) -> PluginRun:
    """Run one plugin command; `host` names a namespace to run the plugin in (a simulated host).
    The default timeout is 30 s, 120 s inside a test VM (emulated: a busy host slows it down a lot)."""
    timeout = timeout or (120 if os.environ.get("PYNET_IN_VM") == "1" else 30)
    environ = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    for key in ("PYNET_DEBUG", "PYNET_LOG_FILE", "PYNET_AGENT", "PYNET_RUN_DIR"):
        if key in os.environ:
            environ[key] = os.environ[key]
    values = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
              "CNI_IFNAME": ifname, "CNI_ARGS": args, "CNI_PATH": cni_path}
    environ.update({k: v for k, v in values.items() if v})
    environ.update(env or {})
    if stdin is None:
        stdin = json.dumps(config).encode() if config is not None else b""
    argv = ["ip", "netns", "exec", host, executable] if host else [executable]
    done = subprocess.run(argv, input=stdin, capture_output=True, env=environ, timeout=timeout)
    return PluginRun(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))
