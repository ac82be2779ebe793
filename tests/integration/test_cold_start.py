"""A plugin run in its own process (PYNET_AGENT=off, or before the agent is up) pays for every
module it imports: a bridge ADD and DEL import none of the heavy ones (dataclasses brings inspect,
ast, dis and tokenize; re brings enum; pyroute2 is only for what the hand-encoded netlink lacks)."""

from __future__ import annotations

import json
import subprocess
import sys

from cni.cli.plugins import install

HEAVY = {"dataclasses", "inspect", "ast", "re", "enum", "typing", "pyroute2", "logging", "socket", "subprocess"}


def imported(stderr: bytes) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.decode().splitlines() if line.startswith("import time:")}


def test_a_cold_bridge_add_and_del_import_nothing_heavy(host, container, tmp_path, token):
    install(str(tmp_path / "bin"), "reference")
    config = json.dumps({"cniVersion": "1.0.0", "name": f"cold{token}", "type": "bridge", "bridge": f"pnc{token}"[:15],
                         "isGateway": True, "ipMasq": True,
                         "ipam": {"type": "host-local", "dataDir": str(tmp_path / "ipam"),
                                  "ranges": [[{"subnet": "10.71.0.0/24"}]]}}).encode()
    env = {"CNI_CONTAINERID": "cold", "CNI_NETNS": container.path, "CNI_IFNAME": "eth0",
           "CNI_PATH": str(tmp_path / "bin"), "PYNET_AGENT": "off", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for command in ("ADD", "DEL"):
        done = subprocess.run(["ip", "netns", "exec", host.name, sys.executable, "-I", "-S", "-X", "importtime",
                               str(tmp_path / "bin" / "bridge")], input=config, capture_output=True,
                              env={**env, "CNI_COMMAND": command}, timeout=60)
        assert done.returncode == 0, done.stdout
        modules = imported(done.stderr)
        assert {"cni.plugins.bridge.config", "cni.firewall.nftables", "cni.ipam.store"} <= modules  # it ran here
        assert not modules & HEAVY, sorted(modules & HEAVY)
    assert "eth0" not in container.links()
