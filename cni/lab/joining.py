"""`pynet lab join|leave`: one more host for a running lab of network namespaces, made as `up` makes
each (hosts._host) and timed, and the last host leaving once every other host dropped its entries."""

from __future__ import annotations

import shutil

from ..kernel.netns import kill_all_in
from . import hosts
from .common import LabError
from .convergence import Watch
from .probe import first_replies
from .status import device_of
from .topology import Container


def join() -> dict:
    """One more host for the running lab (of namespaces), made as `up` makes each: its convergence (how
    long until every other host had its entries) and how long until every other container and its own
    had answered a ping, both from the start of its `pynet run`. Returns its record."""
    lab = hosts.read()
    if lab is None or lab.get("vm"):
        raise LabError("no lab of network namespaces is up: pynet lab up")
    n = len(lab["hosts"]) + 1
    host = hosts._described(n, f"h{n}")
    if not host["name"].startswith(lab["prefix"]):
        raise LabError(f"the lab's names start with {lab['prefix']!r}: set PYNET_LAB_PREFIX so")
    if any(h["name"] == host["name"] for h in lab["hosts"]) or any(
            c["name"] == f"{hosts.prefix()}c{n}" for c in lab["containers"]):
        raise LabError(f"the lab has a host h{n} or a container c{n} already (its file named them)")
    lab["hosts"].append(host)
    lab["containers"].append(hosts._container(Container(f"c{n}", f"h{n}", lab["network"]), n))
    hosts._write(lab)
    with Watch(device_of(lab["config"])) as watch:
        _watch_others(lab, watch)
        hosts._host(lab, n, watch)
        hosts._write(lab)
        others = [h for h in lab["hosts"][:-1] if h.get("holder")]
        pairs = [(h["container"], host["address"].split("/")[0]) for h in others]
        pairs += [(host["container"], h["address"].split("/")[0]) for h in others]
        # pinging starts as soon as the address is known; the watch records the entries meanwhile
        replies = first_replies(pairs, {h["container"]: f"/proc/{h['holder']}/ns/net" for h in lab["hosts"]},
                                hosts.CONVERGED_WITHIN, since=watch.started[host["underlay"]])
        host["convergence_s"] = hosts._convergence(lab, watch, host, hosts.CONVERGED_WITHIN)
    silent = sorted(f"{a} -> {b}" for (a, b), t in replies.items() if t is None)
    host["reachable_s"] = None if silent else max(replies.values(), default=0.0)
    # the same from the moment its container was up (pynet run returned): what is the overlay's, not the runtime's
    host["reachable_after_run_s"] = None if silent else round(max(0.0, host["reachable_s"] - host["run_s"]), 3)
    hosts._write(lab)
    if silent:
        raise LabError(f"{host['name']} joined, but no answer within {hosts.CONVERGED_WITHIN} s: {', '.join(silent)}")
    return host


def leave() -> dict:
    """The lab's last host goes (its container removed, so it leaves the overlay; its member daemon,
    namespace and files after it), once every other host has dropped its entries. Returns its record."""
    lab = hosts.read()
    if lab is None or lab.get("vm") or len(lab["hosts"]) < 2:
        raise LabError("no lab of network namespaces with two hosts or more is up")
    n, host = len(lab["hosts"]), lab["hosts"][-1]
    with Watch(device_of(lab["config"])) as watch:
        _watch_others(lab, watch)
        hosts._pynet(lab, n, "rm", "-f", host["container"])
        gone = watch.forgotten(host["underlay"], hosts.CONVERGED_WITHIN)
    kill_all_in(f"/run/netns/{host['name']}")
    hosts._sh("ip", "netns", "delete", host["name"], check=False)
    hosts._sh("ip", "link", "delete", f"port{n}", ns=lab["underlay"], check=False)
    shutil.rmtree(host["state"], ignore_errors=True)
    lab["hosts"].pop()
    lab["pids"] = [pid for pid in lab["pids"] if pid not in host.get("members", [])]
    lab["containers"] = [c for c in lab["containers"] if c["host"] != n]
    hosts._write(lab)
    if not gone:
        raise LabError(f"{host['name']} left, but not every other host dropped its entries within "
                       f"{hosts.CONVERGED_WITHIN} s")
    return host


def _watch_others(lab: dict, watch: Watch) -> None:
    """The watch follows every host but the last (the one joining or leaving) that it can (hosts.watched)."""
    for n, other in enumerate(lab["hosts"][:-1], 1):
        if hosts.watched(lab, n):
            watch.add(other["underlay"], f"/run/netns/{other['name']}")
