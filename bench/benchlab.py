"""What the benchmarks share: a lab of namespaces, processes and files that always goes away, and
running a command (in a namespace) with a plain PATH."""

from __future__ import annotations

import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from cni.kernel.netns import kill_all_in

BIN = os.path.dirname(sys.executable)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def plugin_arguments(parser) -> None:
    """--pynet-dir (where `pynet` is) and --reference-dir (the Go plugins)."""
    parser.add_argument("--pynet-dir", default=BIN if os.path.exists(os.path.join(BIN, "pynet"))
                        else os.path.join(REPO, ".venv", "bin"))
    parser.add_argument("--reference-dir", default=os.environ.get("PYNET_REFERENCE_DIR", "/usr/lib/cni"))


def require(args, script: str, plugins: tuple[str, ...]) -> None:
    """Exit with a message unless this runs as root and the reference has `plugins`."""
    if os.geteuid() != 0:
        sys.exit(f"{script} needs root: it creates network namespaces")
    missing = [p for p in plugins if not os.path.exists(os.path.join(args.reference_dir, p))]
    if missing:
        sys.exit(f"reference plugins {missing} not found in {args.reference_dir} (containernetworking-plugins)")


def install_pynet(lab: "Lab", pynet_dir: str) -> str:
    """pynet's plugins under the reference names, as a runtime's CNI_PATH holds them: the directory."""
    cni_path = os.path.join(lab.tmp, "bin")
    sh(os.path.join(pynet_dir, "pynet"), "plugins", "install", "--dir", cni_path, "--names", "reference")
    return cni_path


class Impl:
    """One implementation under test: its plugins' directory (CNI_PATH), extra environment, and the
    simulated host namespace and dataDir it works in."""

    def __init__(self, name: str, cni_path: str, env: dict | None = None) -> None:
        self.name, self.cni_path, self.env = name, cni_path, env or {}
        self.data = ""
        self.host = ""


def call(impl: Impl, plugin: str, command: str, config: dict, container: str, cid: str,
         timeout: float = 300, args: str = "") -> tuple[float, dict | None]:
    """One plugin call as a runtime makes it, in the implementation's host: (ms, JSON output)."""
    env = {"PATH": PATH, "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": f"/run/netns/{container}",
           "CNI_IFNAME": "eth0", "CNI_PATH": impl.cni_path, "CNI_ARGS": args, **impl.env}
    start = time.perf_counter()
    done = subprocess.run(["ip", "netns", "exec", impl.host, os.path.join(impl.cni_path, plugin)],
                          input=json.dumps(config).encode(), capture_output=True, env=env, timeout=timeout)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise BenchError(f"{impl.name} {plugin} {command} failed: {done.stdout.decode(errors='replace')[-600:]}")
    return elapsed, (json.loads(done.stdout) if done.stdout.strip() else None)


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

    def netns_many(self, labels: list[str]) -> list[str]:
        """Namespaces for containers (lo left down), made by one `ip -batch`."""
        names = [f"{PREFIX}-{label}" for label in labels]
        self._batch(f"netns add {name}" for name in names)
        self.namespaces.extend(names)
        return names

    def _batch(self, commands) -> None:
        script = "".join(f"{command}\n" for command in commands).encode()
        if script:
            done = subprocess.run(["ip", "-force", "-batch", "-"], input=script, capture_output=True,
                                  timeout=600, env={"PATH": PATH})
            if done.returncode != 0:
                raise BenchError(f"ip -batch failed: {done.stderr.decode(errors='replace')[-500:]}")

    def drop(self, *names: str) -> None:
        """Remove these namespaces and kill the processes in them (one /proc scan, one `ip -batch`)."""
        for name in names:
            if name in self.namespaces:
                self.namespaces.remove(name)
        paths = [f"/run/netns/{name}" for name in names if os.path.exists(f"/run/netns/{name}")]
        kill_all_in(*paths)
        try:
            self._batch(f"netns delete {os.path.basename(path)}" for path in paths)
        except BenchError:
            pass  # best effort: what is left is reported by the caller's next run

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
        # this run's namespaces, also those a failure left unrecorded
        found = {os.path.basename(path) for path in glob.glob(f"/run/netns/{PREFIX}-*")}
        self.drop(*sorted(set(self.namespaces) | found))
        shutil.rmtree(self.tmp, ignore_errors=True)


def in_lab(script: str, body) -> int:
    """Run body(lab) with a Lab that is always closed afterwards: 0, or 1 (and why) if something
    needed for a figure failed to run."""
    started = time.perf_counter()
    lab = Lab()
    try:
        body(lab)
        print(f"\ntotal time {time.perf_counter() - started:.0f} s, load {os.getloadavg()[0]:.1f}")
        return 0
    except (BenchError, subprocess.TimeoutExpired) as error:
        print(f"\n{script}: {error}", file=sys.stderr)
        return 1
    finally:
        lab.close()


def in_pynet_lab(script: str, prefix: str, body) -> int:
    """Run body() for figures from `pynet lab`: a lab directory of its own (a temporary one unless
    PYNET_LAB_DIR is set; `lab up` makes it) and names starting with `prefix` (unless PYNET_LAB_PREFIX
    is set), the lab taken down afterwards, also on an error: 0, or 1 (and why) if something failed to run."""
    from cni.lab import hosts

    if not os.environ.get("PYNET_LAB_DIR"):
        os.environ["PYNET_LAB_DIR"] = tempfile.mkdtemp(prefix="pnlab-bench-")
        os.rmdir(os.environ["PYNET_LAB_DIR"])
    os.environ.setdefault("PYNET_LAB_PREFIX", prefix)
    try:
        hosts.prefix()  # checked before anything is made: `down` needs it too
    except hosts.LabError as e:
        print(f"{script}: {e}", file=sys.stderr)
        return 1
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}", flush=True)
    try:
        body()
        return 0
    except Exception as e:  # noqa: BLE001 - a figure that failed to run is reported, not a traceback
        print(f"{script}: {e}", file=sys.stderr)
        return 1
    finally:
        hosts.down()


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]
