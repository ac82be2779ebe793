"""The documentation's shell examples run: every fenced shell block of README.md and docs/ whose
info string says `runnable` (```` ```sh runnable ````) is run on a simulated host, and must exit 0
and leave nothing behind; every other shell block is listed in NOT_RUN with the reason it cannot
run here, so a new example is run unless someone says why not.

A block runs as `bash -eo pipefail` under `ip netns exec HOST`, in the checkout (so `.venv/bin/...`
works), with the test's .venv first on PATH and every pynet directory the simulated host's own
(PYNET_RUN_DIR, PYNET_CNI_CONF_DIR, PYNET_CNI_CACHE_DIR, PYNET_STATE_DIR, CNI_PATH), as the CLI
tests run `pynet`. Afterwards: no container, no file in the host's pynet directories, no process
but its plugin agent, the host's links, routes and nft ruleset as before, and no network namespace
the block named.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from tests.integration.simhost import simhost  # noqa: F401

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.path.dirname(sys.executable)
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
SHELLS = {"sh", "bash", "shell", "console"}
MARK = "runnable"

CLIENT_TESTS = "tests/integration/test_clients.py runs it on a simulated host with a private mount namespace"
NAMES_TESTS = "tests/integration/test_clients_names.py runs it with dnsname on a simulated host"
NOT_RUN = {
    "README.md § Set up (a fresh Debian 12 machine, as root): ./install.sh":
        "the set-up itself; .ci/run runs both commands on a clean clone (the suite includes this test)",
    "docs/plugins/README.md § Plugins: .venv/bin/pynet plugins install --dir /opt/pynet/cni --names reference":
        "writes the machine's /opt/pynet/cni; tests/integration/test_plugins_cli.py tests install and list",
    "docs/clients.md § Podman: .venv/bin/pynet plugins install --dir /opt/pynet/cni --names reference":
        "changes the machine's containers.conf and pulls an image; tests/integration/test_podman.py runs Podman "
        "on a simulated host",
    "docs/clients.md § containerd: .venv/bin/pynet plugins install --dir /opt/cni/bin --names reference":
        f"writes the machine's /etc/cni/net.d and /opt/cni/bin and needs an image archive; {CLIENT_TESTS}",
    "docs/clients.md § buildah: .venv/bin/pynet plugins install --dir /opt/pynet/cni --names reference":
        f"changes the machine's containers.conf and needs an image archive; {CLIENT_TESTS}",
    "docs/clients.md § containerd: printf 'nameserver 10.88.0.1\\nsearch dns.pynet\\n' > /etc/pynet-mynet-resolv.conf":
        f"writes the machine's /etc and needs the containerd set-up above; {NAMES_TESTS}",
    "docs/clients.md § buildah: buildah from --name box --dns 10.88.0.1 --dns-search dns.pynet docker-archive:busybox.tar":
        f"needs the buildah set-up above; {NAMES_TESTS}",
    "docs/lab.md § Two-host lab: `pynet lab`: # .venv/bin/pynet lab up --hosts 2 --store etcd":
        "a transcript (commands with their output); tests/integration/test_lab.py runs the lab both ways",
    "docs/lab.md § Two-host lab: `pynet lab`: # .venv/bin/pynet lab up --hosts 2 --store etcd --etcd-members 3 "
    "--etcd-tls": "a transcript that kills an etcd member by hand; tests/integration/test_etcd_cluster.py does",
    "docs/lab.md § Labs from a YAML file: # .venv/bin/pynet lab status --format json | jq -c '.running.containers.web, "
    ".running.networks.red'":
        "a transcript of the example lab's status; tests/integration/test_lab_yaml.py runs that lab and compares",
    "docs/lab.md § Twenty hosts, and how fast they learn of each other: # .venv/bin/pynet lab up --hosts 20":
        "a transcript with timings; tests/integration/test_lab_mesh.py runs twenty hosts, join and leave",
    "docs/lab.md § The same with real kernels: `pynet lab up --vm`: # .venv/bin/pynet lab up --vm":
        "a transcript of qemu VMs (minutes under emulation); tests/vm/test_lab_up_vm.py runs it",
}


@dataclass(frozen=True)
class Block:
    path: str
    line: int
    heading: str
    info: tuple[str, ...]
    body: str

    @property
    def runnable(self) -> bool:
        return MARK in self.info[1:]

    @property
    def key(self) -> str:
        first = self.body.splitlines()[0].split("  #")[0].strip() if self.body.strip() else ""
        return f"{self.path} § {self.heading}: {first}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def fenced_blocks() -> list[Block]:
    found = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = md.read_text()
        for m in FENCE.finditer(text):
            info = tuple(m.group(1).split())
            headings = re.findall(r"^#+ (.*)$", FENCE.sub("", text[:m.start()]), re.M)  # not a `# ` in a block
            found.append(Block(str(md.relative_to(ROOT)), text.count("\n", 0, m.start()) + 1,
                               headings[-1] if headings else "", info, m.group(2)))
    return found


def shell_blocks() -> list[Block]:
    return [b for b in fenced_blocks() if b.info and b.info[0] in SHELLS]


RUNNABLE = [b for b in shell_blocks() if b.runnable]


def test_every_shell_block_is_run_or_says_why_not():
    unmarked = {b.key: b for b in shell_blocks() if not b.runnable}
    unlisted = [f"{b}: {key}" for key, b in unmarked.items() if key not in NOT_RUN]
    assert not unlisted, f"shell blocks neither marked `{MARK}` nor in NOT_RUN: {unlisted}"
    stale = sorted(NOT_RUN.keys() - unmarked.keys())
    assert not stale, f"NOT_RUN lists blocks that are gone or runnable now: {stale}"


def test_every_block_says_what_it_holds():
    """An info string on every fence (sh, json, text, ...): a shell block without one would escape."""
    assert [str(b) for b in fenced_blocks() if not b.info] == []


def test_the_readme_tour_is_run():
    tour = [b for b in RUNNABLE if b.path == "README.md" and b.heading == "A five-minute tour"]
    assert len(tour) == 1
    for step in ("pynet create bridge", "pynet run", "-p 8080:", "pynet topology", "pynet network rm"):
        assert step in tour[0].body


def files_under(*dirs: str) -> list[str]:
    return sorted(os.path.join(d, name) for top in dirs for d, _, names in os.walk(top) for name in names)


def stray_processes(ns) -> list[str]:
    """Processes in the simulated host but its plugin agent (which leaves by itself when idle)."""
    pids = subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True, text=True).stdout.split()
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "cni.agent.supervisor" not in cmdline:
            found.append(f"{pid} {cmdline}")
    return found


@pytest.mark.root
@pytest.mark.parametrize("block", RUNNABLE, ids=str)
def test_example_runs_and_leaves_nothing(block, simhost, tmp_path):
    script = tmp_path / "example.sh"
    script.write_text(block.body)
    env = {**simhost.env, "PATH": f"{BIN}:{simhost.env['PATH']}", "HOME": str(tmp_path)}
    env.update({k: v for k, v in os.environ.items() if k in ("PYNET_AGENT", "PYNET_DEBUG")})
    before, named_before = simhost.ns.snapshot(), set(os.listdir("/run/netns"))
    # `ip netns exec` gives the block a mount namespace of its own, where a namespace it adds
    # (`ip netns add`) is mounted: list /run/netns from in there
    wrapper = 'bash -eo pipefail "$1"; rc=$?; echo @@netns; ls -1 /run/netns; exit $rc'
    done = subprocess.run(["ip", "netns", "exec", simhost.ns.name, "bash", "-c", wrapper, "example", str(script)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output, _, named_after = done.stdout.rpartition("@@netns\n")
    named = [n for n in set(named_after.split()) - named_before
             if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", block.body)]
    for name in named:  # its mount went with the block's mount namespace: unlink the name it left
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    assert done.returncode == 0, f"{block} exited {done.returncode}:\n{output}\n{done.stderr}"
    assert not named, f"{block} left network namespaces {named}"
    assert simhost.states() == [], f"{block} left containers"
    pynet_dirs = [simhost.conf_dir, simhost.cache_dir, simhost.env["PYNET_STATE_DIR"],
                  os.path.join(simhost.run_dir, "containers")]
    assert files_under(*pynet_dirs) == [], f"{block} left files"
    strays = stray_processes(simhost.ns)
    for _ in range(50):  # the host's DNS server leaves a second after its last record
        if not strays:
            break
        time.sleep(0.1)
        strays = stray_processes(simhost.ns)
    assert strays == [], f"{block} left processes"
    assert simhost.ns.snapshot() == before
