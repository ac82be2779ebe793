"""A crash storm on a simulated host: ADDs and DELs all at once across several bridge + portmap
networks (a published port each), run through libcni's layer (cni.libcni) as a runtime runs them,
while plugin processes and the pynet agent are killed with kill -9; then the runtime's DEL of every
attachment it started (with its cached result where it has one) and GC with no valid attachment,
and an inventory of what is left.

Used by tests/integration/test_storm.py (the assertions) and bench/storm.py (the figures). Size:
PYNET_STORM_OPS (tasks per round, all at once: an ADD, maybe followed by its DEL, or the DEL of an
earlier round's container; default 200), PYNET_STORM_ROUNDS (3), PYNET_STORM_SEED (printed).
Through the agent unless PYNET_AGENT=off (then only plugin processes are killed).
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from cni.agent import wire
from cni.kernel.links import ipv4_addresses_of, netlink
from cni.kernel.netns import pids_in
from cni.libcni import CNIConfig, CNIRuntimeError, NetworkConfig, PluginError, RuntimeConf
from tests.netns import install_plugins

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")
NETWORKS = 4
SETTLE = 120.0  # seconds to wait for the host to be quiet (requests the agent finishes for killed callers)


def _setting(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass
class Attachment:
    """One container on one network, as the runtime knows it."""
    container: object  # tests.netns.Netns
    cid: str
    net: NetworkConfig
    port: int
    live: bool = False  # its ADD succeeded and no DEL has started since
    deleted: bool = False  # a DEL succeeded after its last ADD: the runtime is done with it

    def runtime_conf(self) -> RuntimeConf:
        mapping = {"hostPort": self.port, "containerPort": 80, "protocol": "tcp"}
        return RuntimeConf(self.cid, self.container.path, "eth0", capability_args={"portMappings": [mapping]})


class Storm:
    def __init__(self, make_netns, workdir: str, token: str, ops: int | None = None, rounds: int | None = None,
                 seed: int | None = None) -> None:
        self.make_netns = make_netns
        self.ops = ops or _setting("PYNET_STORM_OPS", 200)
        self.rounds = rounds or _setting("PYNET_STORM_ROUNDS", 3)
        self.seed = seed if seed is not None else _setting("PYNET_STORM_SEED", random.randrange(1 << 31))
        self.random = random.Random(self.seed)
        self.agent = os.environ.get("PYNET_AGENT", "") != "off"
        self.host = make_netns("h")
        self.bin = install_plugins(os.path.join(workdir, "bin"))
        self.data = os.path.join(workdir, "ipam")
        self.run_dir = os.path.join(workdir, "run")
        self.cache = os.path.join(workdir, "cache")
        env = {"PYNET_RUN_DIR": self.run_dir, "PYNET_STATE_DIR": os.path.join(workdir, "state"),
               "PYNET_AGENT": "auto" if self.agent else "off"}
        self.cni = CNIConfig([self.bin], cache_dir=self.cache, env=env, host_netns=self.host.path)
        self.networks = [NetworkConfig.from_dict(self._conflist(n, token)) for n in range(NETWORKS)]
        self.attachments: list[Attachment] = []
        self.calls: collections.Counter = collections.Counter()  # "ADD ok", "DEL code 11", ...
        self.messages: dict[str, str] = {}  # an example message per failure kind
        self.kills: collections.Counter = collections.Counter()  # "plugin", "agent", "agent process"
        self.duplicates: list[str] = []
        self.unsettled: list[str] = []
        self.lock = threading.Lock()

    def _conflist(self, n: int, token: str) -> dict:
        return {"cniVersion": "1.1.0", "name": f"storm{n}", "plugins": [
            {"type": "bridge", "bridge": f"pnb{token}{n}", "isGateway": True, "ipMasq": True,
             "ipam": {"type": "host-local", "dataDir": self.data, "ranges": [[{"subnet": f"10.{100 + n}.0.0/16"}]]}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}]}

    # ---- the storm ------------------------------------------------------------------------------

    def run(self) -> dict:
        """Every round, then the runtime's DEL and GC; the figures (see `figures`)."""
        start = time.monotonic()
        for number in range(1, self.rounds + 1):
            self.round(number)
        stormed = time.monotonic() - start
        del_errors = self.delete_everything()
        self.settle("after the runtime's DEL")
        gc_errors = self.collect_garbage()
        self.check_addresses("after the runtime's DEL and GC", every=True)
        self.stop_agent()
        return self.figures(stormed, time.monotonic() - start, del_errors, gc_errors)

    def round(self, number: int) -> None:
        earlier = [a for a in self.attachments if a.live]
        tasks = []
        for n in range(self.ops):
            if earlier and self.random.random() < 0.25:
                tasks.append((self.delete, earlier.pop(self.random.randrange(len(earlier)))))
            else:
                tasks.append((self.add_and_maybe_delete, self.new_attachment(f"s{number}-{n}")))
        finished, stop = [0], threading.Event()
        killer = threading.Thread(target=self.kill_while, args=(stop, lambda: finished[0] / len(tasks)))
        with concurrent.futures.ThreadPoolExecutor(len(tasks)) as pool:
            futures = [pool.submit(task, attachment) for task, attachment in tasks]
            killer.start()
            try:
                for future in concurrent.futures.as_completed(futures):
                    future.result()
                    finished[0] += 1
            finally:
                stop.set()
                killer.join()
        self.settle(f"round {number}")
        self.check_addresses(f"after round {number}", every=True)

    def new_attachment(self, cid: str) -> Attachment:
        attachment = Attachment(self.make_netns("c"), cid, self.random.choice(self.networks),
                                20000 + len(self.attachments))
        self.attachments.append(attachment)
        return attachment

    def add_and_maybe_delete(self, attachment: Attachment) -> None:
        """ADD; a failed ADD is deleted at once, as runtimes do, and so is every other one or so."""
        if not self.call("ADD", attachment) or self.random.random() < 0.5:
            time.sleep(self.random.uniform(0, 0.2))
            self.delete(attachment)

    def delete(self, attachment: Attachment) -> None:
        attachment.live = False
        self.call("DEL", attachment)

    def call(self, command: str, attachment: Attachment) -> bool:
        try:
            if command == "ADD":
                attachment.deleted = False
                self.cni.add(attachment.net, attachment.runtime_conf())
                attachment.live = True
            else:
                self.cni.delete(attachment.net, attachment.runtime_conf())
                attachment.deleted = True
            outcome = "ok"
        except PluginError as e:
            outcome = f"code {e.code}"
            self.messages.setdefault(f"{command} {outcome}", f"{e.plugin}: {e.msg}"[:200])
        except CNIRuntimeError as e:
            outcome = "runtime error"
            self.messages.setdefault(f"{command} {outcome}", str(e)[:200])
        with self.lock:
            self.calls[f"{command} {outcome}"] += 1
        return outcome == "ok"

    # ---- kill -9 --------------------------------------------------------------------------------

    def processes(self) -> dict[str, list[int]]:
        """The host's pynet processes: the agent's (supervisor and workers) and plugin processes."""
        found: dict[str, list[int]] = {"agent": [], "plugin": []}
        for pid in pids_in(self.host.path):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if b"cni.agent.supervisor" in cmdline:
                found["agent"].append(pid)
            elif self.bin.encode() in cmdline:
                found["plugin"].append(pid)
        return found

    def kill(self, pids: list[int], what: str, count: str = "each") -> int:
        """kill -9 `pids`, counted as `what`: each process, or (count="once") once for all; how
        many were still there."""
        killed = 0
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        self.kills[what] += killed if count == "each" else min(killed, 1)
        return killed

    def kill_while(self, stop: threading.Event, progress) -> None:
        """kill -9 along the round: plugin processes, a tenth as many as the round has tasks (at
        least 3) spread over it; the whole agent once, when a random share of the round is done, and
        one of its processes once, at another. Every 2 s, look for an address in two live containers."""
        plugins, killed = max(3, self.ops // 10), 0
        whole_at, one_at = self.random.uniform(0.2, 0.6), self.random.uniform(0.1, 0.9)
        whole_done = one_done = not self.agent
        checked = time.monotonic()
        while not stop.wait(self.random.uniform(0.02, 0.1)):
            found, done = self.processes(), progress()
            if not whole_done and done >= whole_at and found["agent"]:
                whole_done = bool(self.kill(found["agent"], "agent", count="once"))
            elif not one_done and done >= one_at and found["agent"]:
                one_done = bool(self.kill([self.random.choice(found["agent"])], "agent process"))
            elif found["plugin"] and killed <= plugins * done:
                killed += self.kill([self.random.choice(found["plugin"])], "plugin")
            if time.monotonic() - checked > 2:
                self.check_addresses("during the storm")
                checked = time.monotonic()

    # ---- checks ---------------------------------------------------------------------------------

    def settle(self, when: str) -> None:
        """Wait until no plugin runs and the agent serves nothing (each of its processes has a
        single thread): requests of killed callers finish in the agent."""
        end = time.monotonic() + SETTLE
        while time.monotonic() < end:
            found = self.processes()
            if not found["plugin"] and all(_threads(pid) <= 1 for pid in found["agent"]):
                return
            time.sleep(0.1)
        self.unsettled.append(when)

    def check_addresses(self, when: str, every: bool = False) -> None:
        """No IPv4 address in two containers: the live ones (ADD done, no DEL started), or, with
        `every`, every container (when the host is quiet: also what killed ADDs left)."""
        holders = collections.defaultdict(list)
        for attachment in list(self.attachments):
            if not (every or attachment.live) or not attachment.container.exists():
                continue
            try:
                with netlink(attachment.container.path) as ipr:
                    found = ipv4_addresses_of(ipr)
            except Exception:  # noqa: BLE001 - a namespace going away meanwhile
                continue
            for address in found:
                if not address.startswith("127."):
                    holders[address].append(attachment.cid)
        with self.lock:
            self.duplicates += [f"{when}: {address} in {', '.join(cids)}" for address, cids in holders.items()
                                if len(cids) > 1]

    # ---- the runtime's clean-up and what is left ------------------------------------------------

    def delete_everything(self) -> list[str]:
        """The runtime's DEL of every attachment it started and is not done with (live, or whose
        ADD or DEL failed), as libcni does it (with the cached result where there is one)."""
        def delete(attachment: Attachment) -> str:
            attachment.live = False
            try:
                self.cni.delete(attachment.net, attachment.runtime_conf())
            except CNIRuntimeError as e:
                return f"DEL {attachment.cid}: {e}"[:300]
            attachment.deleted = True
            return ""

        pending = [a for a in self.attachments if not a.deleted]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            return [error for error in pool.map(delete, pending) if error]

    def collect_garbage(self) -> list[str]:
        errors = []
        for net in self.networks:
            try:
                self.cni.gc(net, valid=[])
            except CNIRuntimeError as e:
                errors.append(f"GC {net.name}: {e}"[:300])
        return errors

    def stop_agent(self) -> None:
        """Stop the host's agent as an operator would (`pynet agent stop`), so its files go."""
        if not self.agent:
            return
        path = wire.socket_path({"PYNET_RUN_DIR": self.run_dir}, os.stat(self.host.path).st_ino)
        if os.path.exists(path):
            subprocess.run([PYNET, "agent", "stop", "--socket", path], capture_output=True, timeout=60)
        end = time.monotonic() + 30
        while self.processes()["agent"] and time.monotonic() < end:
            time.sleep(0.1)

    def leftovers(self) -> dict[str, list[str]]:
        """What is left on the host, by kind (each list should be empty)."""
        host_links = self.host.links()
        return {
            "reservations": [f"{net}/{name}" for net in _listdir(self.data) for name in _listdir(os.path.join(
                self.data, net)) if name != "lock" and not name.startswith("last_reserved_ip")],
            "veths": sorted(name for name in host_links if name.startswith("pnv")),
            "container links": sorted(f"{a.cid}: {name}" for a in self.attachments if a.container.exists()
                                      for name in a.container.links() if name != "lo"),
            "nft elements": nft_elements(self.host),
            "agent files": sorted(os.path.relpath(os.path.join(d, f), self.run_dir)
                                  for d, _, files in os.walk(self.run_dir) for f in files),
            "cached results": _listdir(os.path.join(self.cache, "results")),
            "processes": [str(pid) for pids in self.processes().values() for pid in pids],
        }

    def figures(self, stormed: float, total: float, del_errors: list[str], gc_errors: list[str]) -> dict:
        return {"seed": self.seed, "rounds": self.rounds, "tasks per round": self.ops, "networks": len(self.networks),
                "through the agent": self.agent, "containers": len(self.attachments),
                "calls": dict(sorted(self.calls.items())), "failure examples": self.messages,
                "kills": dict(self.kills), "duplicate addresses": self.duplicates, "unsettled": self.unsettled,
                "final DEL errors": del_errors, "GC errors": gc_errors, "leftovers": self.leftovers(),
                "bridges left": sorted(n for n in self.host.links() if n.startswith("pnb")),
                "storm seconds": round(stormed, 1), "total seconds": round(total, 1)}


def nft_elements(ns) -> list[str]:
    """Every element of every set and map in the namespace's nftables ruleset."""
    done = ns.run("nft", "-j", "list", "ruleset", check=False)
    try:
        items = json.loads(done.stdout)["nftables"]
    except (ValueError, KeyError):
        return []
    found = []
    for item in items:
        kind, obj = next(iter(item.items()))
        if kind in ("set", "map"):
            found += [f"{obj['family']} {obj['table']} {obj['name']}: {json.dumps(e, separators=(',', ':'))}"
                      for e in obj.get("elem", [])]
    return found


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def summary(figures: dict) -> str:
    """The figures as a few readable lines (docs/benchmarks.md's table takes them from here)."""
    calls = figures["calls"]
    leftovers = {kind: len(items) for kind, items in figures["leftovers"].items()}
    lines = [f"crash storm: {figures['rounds']} rounds x {figures['tasks per round']} tasks at once, "
             f"{figures['networks']} networks, {figures['containers']} containers, "
             f"{'through the agent' if figures['through the agent'] else 'in-process'}, seed {figures['seed']}",
             f"  calls: {sum(calls.values())} ({', '.join(f'{k}: {v}' for k, v in calls.items())})",
             *(f"    {kind}: {message}" for kind, message in sorted(figures["failure examples"].items())),
             f"  kill -9: {', '.join(f'{k}: {v}' for k, v in figures['kills'].items()) or 'none'}",
             f"  duplicate addresses: {len(figures['duplicate addresses'])}; final DEL errors: "
             f"{len(figures['final DEL errors'])}; GC errors: {len(figures['GC errors'])}",
             f"  leftovers: {', '.join(f'{k}: {v}' for k, v in leftovers.items())}",
             f"  {figures['storm seconds']} s of storm, {figures['total seconds']} s with the clean-up"]
    return "\n".join(lines)
