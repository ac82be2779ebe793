"""bench/agent.py's part 5: what dnsname's ADD adds to a warm chain, pynet's against the reference's.

Each round, on a network of its own (one bridge in the implementation's host namespace): container A
(bridge ADD, then dnsname ADD: the DNS server starts), container B (bridge ADD, dnsname ADD: the
server runs), a query for B's name the moment its ADD has returned (from the host, to the gateway),
then the DELs, and a wait until no DNS server is left in the host (pynet's leaves 1 s after its last
record; the reference's dnsname kills dnsmasq at the last DEL).

Two floors, measured in the same rounds: a plugin call that does nothing (pynet: dnsname STATUS
through the agent; the reference: dnsname VERSION), what one more plugin in a chain costs whatever
it does; and the server's own update, from this process: a name written where the server reads it
(pynet: a record file, seen through inotify; dnsmasq: a line in dnsname's addnhosts file, then
SIGHUP) until the gateway answers it. Beside them, the floor of such an update in Python: a bare
process that reads a file inotify names and answers a UDP query with it (on loopback).
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import sys
import tempfile
import time

from benchlab import BenchError, Impl, Lab, call, p90

from cni.dns import daemon, records
from cni.files import write_atomic
from cni.kernel import netns

DOMAIN = "dns.bench"
FIGURES = ("bridge ADD", "dnsname ADD", "bridge+dnsname ADD", "first dnsname ADD", "call doing nothing",
           "server update")
SERVERS = (b"cni.dns.server", b"dnsmasq")


def dns_conf(result: dict) -> dict:
    return {"cniVersion": "1.0.0", "name": "dnsnet", "type": "dnsname", "domainName": DOMAIN,
            "capabilities": {"aliases": True}, "prevResult": result}


def attach(impl: Impl, bridge: dict, container: str, name: str) -> tuple[float, float, dict]:
    """bridge ADD and dnsname ADD of `container` named `name`: (ms, ms, bridge's result)."""
    add, result = call(impl, "bridge", "ADD", bridge, container, name)
    named, _ = call(impl, "dnsname", "ADD", dns_conf(result), container, name,
                    args=f"IgnoreUnknown=1;K8S_POD_NAME={name}")
    return add, named, result


def detach(impl: Impl, bridge: dict, container: str, name: str, result: dict) -> None:
    call(impl, "dnsname", "DEL", dns_conf(result), container, name, args=f"IgnoreUnknown=1;K8S_POD_NAME={name}")
    call(impl, "bridge", "DEL", {**bridge, "prevResult": result}, container, name)


def answers_now(impl: Impl, result: dict, name: str) -> bool:
    """Whether the gateway answers `name` with the container's address at once (one query)."""
    gateway, address = result["ips"][0]["gateway"], result["ips"][0]["address"].split("/")[0]
    with netns.entered(f"/run/netns/{impl.host}"):
        answer = daemon.probe(gateway, name, timeout=0.5)
    return answer is not None and address in answer[1]


def idle_call(impl: Impl, container: str) -> float:
    """ms of a dnsname call that does nothing: STATUS through pynet's agent, the reference's VERSION."""
    if impl.name == "pynet":
        return call(impl, "dnsname", "STATUS", {"cniVersion": "1.1.0", "name": "dnsnet", "type": "dnsname"},
                    container, "idle")[0]
    return call(impl, "dnsname", "VERSION", {"cniVersion": "1.0.0"}, container, "idle")[0]


def server_update(impl: Impl, result: dict, n: int) -> float:
    """ms from writing a name where the running server reads it to the gateway's answer with it."""
    gateway, address, name = result["ips"][0]["gateway"], f"10.90.200.{1 + n % 250}", f"u{n}"
    if impl.name == "pynet":
        where = os.path.join(impl.env["PYNET_STATE_DIR"], "dns", "records")
        attachment = records.Attachment("dnsnet", name, "eth0", [name], [f"{address}/16"], [gateway], DOMAIN)
    else:
        where = os.path.join(impl.env["XDG_RUNTIME_DIR"], "containers", "cni", "dnsname", "dnsnet")
        with open(os.path.join(where, "pidfile")) as f:
            pid = int(f.read())
    end = time.monotonic() + 5
    with netns.entered(f"/run/netns/{impl.host}"):
        start = time.perf_counter()
        if impl.name == "pynet":
            records.write(where, attachment)
        else:
            with open(os.path.join(where, "addnhosts"), "a") as f:
                f.write(f"{address}\t{name}\n")
            os.kill(pid, signal.SIGHUP)
        while daemon.probe(gateway, name, timeout=0.5) != (0, [address]):
            if time.monotonic() > end:
                raise BenchError(f"{impl.name}: {name} not answered 5 s after it was written")
        elapsed = (time.perf_counter() - start) * 1000
    if impl.name == "pynet":
        records.remove(where, "dnsnet", name, "eth0")  # (the reference's line goes with its DELs)
    return elapsed


def servers_gone(impl: Impl, within: float = 5.0) -> None:
    end = time.monotonic() + within
    while any(_is_server(pid) for pid in netns.pids_in(f"/run/netns/{impl.host}")):
        if time.monotonic() > end:
            raise BenchError(f"{impl.name}: a DNS server is still running {within:.0f} s after the last DEL")
        time.sleep(0.02)


def _is_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return any(word in f.read() for word in SERVERS)
    except OSError:
        return False


BARE = """
import os, select, socket, sys
from cni.ipam.watch import Watcher
where, watcher, names = sys.argv[1], Watcher(), {}
watcher.changes(where)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 5399))
while True:
    ready = select.select([udp, watcher.fd], [], [])[0]
    for name in (watcher.changes(where) or ()) if watcher.fd in ready else ():
        try:
            with open(os.path.join(where, name)) as f:
                names[name] = f.read()
        except OSError:
            names.pop(name, None)
    if udp in ready:
        data, peer = udp.recvfrom(512)
        udp.sendto(names.get(data.decode(), "").encode(), peer)
"""


def bare_updates(lab: Lab, host: str, count: int) -> list[float]:
    """ms from a file's write (write_atomic) to the bare process's UDP answer with it, `count` times."""
    where = tempfile.mkdtemp(dir=lab.tmp)
    server = lab.spawn(host, sys.executable, "-c", BARE, where)
    times = []
    with netns.entered(f"/run/netns/{host}"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.connect(("127.0.0.1", 5399))
            client.settimeout(0.1)
            for n in range(-1, count):  # (-1: until it listens)
                name, value = f"n{n}", f"10.0.{n % 250}.1"
                start = time.perf_counter()
                write_atomic(os.path.join(where, name), value.encode())
                while True:
                    try:
                        client.send(name.encode())
                        if client.recv(512).decode() == value:
                            break
                    except OSError:
                        pass
                    if n < 0:  # not up yet, or not watching when the file was written
                        time.sleep(0.01)
                        write_atomic(os.path.join(where, name), value.encode())
                    if time.perf_counter() - start > 10:
                        raise BenchError("the bare inotify server did not answer")
                if n >= 0:
                    times.append((time.perf_counter() - start) * 1000)
    lab.stop(server)
    return times


def dnsname_rounds(lab: Lab, impls: list[Impl], runs: int, warmup: int, bridge_conf) -> dict:
    """The figures (ms) of every round after the warm-up, and "answered": B's name at once or not.
    `bridge_conf(impl, network name)` is the bridge's configuration (one of bench/agent.py's)."""
    times: dict = {}
    for n in range(warmup + runs):
        for impl in impls if n % 2 else list(reversed(impls)):
            bridge = bridge_conf(impl, "dnsnet")
            first, second = lab.netns(f"{impl.name[:4]}-da{n}"), lab.netns(f"{impl.name[:4]}-db{n}")
            _, start, first_result = attach(impl, bridge, first, f"a{n}")
            add, named, result = attach(impl, bridge, second, f"b{n}")
            answered = answers_now(impl, result, f"b{n}.{DOMAIN}")
            idle, update = idle_call(impl, second), server_update(impl, result, n)
            detach(impl, bridge, second, f"b{n}", result)
            detach(impl, bridge, first, f"a{n}", first_result)
            lab.drop(first, second)
            servers_gone(impl)
            if n >= warmup:
                for figure, value in zip(FIGURES, (add, named, add + named, start, idle, update)):
                    times.setdefault((impl.name, figure), []).append(value)
                times.setdefault((impl.name, "answered"), []).append(answered)
    times[("bare", "server update")] = bare_updates(lab, impls[0].host, 10 * runs)
    return times


def dnsname_report(times: dict, runs: int) -> None:
    med = {key: statistics.median(values) for key, values in times.items() if key[1] in FIGURES}
    print(f"\ndnsname after bridge, {runs} rounds: medians (p90) in ms")
    print(f"   {'figure':<22}{'pynet warm':>16}{'reference':>16}{'ratio':>8}")
    for figure in FIGURES:
        cells = [f"{med[(n, figure)]:8.1f} ({p90(times[(n, figure)]):5.1f})" for n in ("pynet", "reference")]
        print(f"   {figure:<22}{cells[0]:>16}{cells[1]:>16}{med[('pynet', figure)] / med[('reference', figure)]:8.2f}")
    for name in ("pynet", "reference"):
        answered = times[(name, "answered")]
        print(f"   {name}: the second name answered the moment its ADD returned in {sum(answered)}/{len(answered)}")
    added = med[("pynet", "dnsname ADD")]
    print(f"   pynet's dnsname ADD with the server running: {added:.1f} ms, "
          f"{'met' if added <= 5 else 'NOT met'} (target <= 5 ms); "
          f"bridge+dnsname / bridge: {med[('pynet', 'bridge+dnsname ADD')] / med[('pynet', 'bridge ADD')]:.2f}")
    for name in ("pynet", "reference"):
        print(f"   {name}: dnsname ADD less a call doing nothing: "
              f"{med[(name, 'dnsname ADD')] - med[(name, 'call doing nothing')]:.1f} ms")
    bare = times[("bare", "server update")]
    print(f"   the floor of a server update in Python (a bare inotify -> read -> UDP answer process, "
          f"{len(bare)} times): {statistics.median(bare):.2f} ms ({p90(bare):.2f})")
