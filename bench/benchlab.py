"""What the benchmarks share: a lab of namespaces, processes and files that always goes away, and
running a command (in a namespace) with a plain PATH."""

from __future__ import annotations

import glob
import os
import shutil
import statistics
import subprocess
import tempfile

from cni.kernel.netns import kill_all_in

PREFIX = f"pnbench-{os.getpid()}"
PATH = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BenchError(Exception):
    """Something needed for a figure failed to run."""


def sh(*argv: str, ns: str | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    if ns:
        argv = ("ip", "netns", "exec", ns, *argv)
    done = subprocess.run(argv, capture_output=True, timeout=timeout, env={"PATH": PATH})
    if check and done.returncode != 0:
        raise BenchError(f"{' '.join(argv)[:200]} failed ({done.returncode}): "
                         f"{done.stdout.decode(errors='replace')[-500:]} {done.stderr.decode(errors='replace')[-500:]}")
    return done


class Lab:
    """Namespaces, processes and files of this run; close() removes all of them."""

    def __init__(self) -> None:
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self.tmp = tempfile.mkdtemp(prefix=f"{PREFIX}-")

    def netns(self, label: str) -> str:
        name = f"{PREFIX}-{label}"
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "link", "set", "lo", "up", ns=name)
        return name

    def drop(self, *names: str) -> None:
        for name in names:
            if name in self.namespaces:
                self.namespaces.remove(name)
            if os.path.exists(f"/run/netns/{name}"):
                kill_all_in(f"/run/netns/{name}")
                sh("ip", "netns", "delete", name, check=False)

    def spawn(self, ns: str, *argv: str) -> subprocess.Popen:
        # `ip netns exec` execs the program: the Popen's pid is the program's own
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env={"PATH": PATH})
        self.processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc in self.processes:
            self.processes.remove(proc)

    def veth(self, a: str, a_if: str, a_ip: str, b: str, b_if: str, b_ip: str) -> None:
        """A veth pair between namespaces a and b (created inside a: never in the root namespace)."""
        sh("ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b, ns=a)
        for ns, ifname, ip in ((a, a_if, a_ip), (b, b_if, b_ip)):
            sh("ip", "addr", "add", ip, "dev", ifname, ns=ns)
            sh("ip", "link", "set", ifname, "up", ns=ns)

    def close(self) -> None:
        for proc in list(self.processes):
            self.stop(proc)
        for name in list(self.namespaces):
            self.drop(name)
        for path in glob.glob(f"/run/netns/{PREFIX}-*"):  # only this run's own namespaces
            kill_all_in(path)
            sh("ip", "netns", "delete", os.path.basename(path), check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]
