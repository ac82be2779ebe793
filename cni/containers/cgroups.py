"""`--memory` and `--cpus`: a cgroup per container, on cgroup v2 or on v1 controllers (hybrid hosts).

v2 (a unified hierarchy with the controllers): `<mount>/<pynet's cgroup>/pynet-<id>` with
`memory.max` and `cpu.max`, or, when pynet's own cgroup holds processes (v2 forbids children with
controllers there), a `pynet` cgroup at the root. Under `ip netns exec` (a /sys without the cgroup
mounts), pynet mounts them in a mount namespace of its own first. v1: `<controller mount>/<pynet's cgroup>/pynet-<id>`
in the `memory` (`memory.limit_in_bytes`) and `cpu` (`cpu.cfs_quota_us`/`cfs_period_us`)
hierarchies. Nested under pynet's own cgroup, a container stays within the limits pynet runs under.
"""

from __future__ import annotations

import ctypes
import os
import re
import time

ROOT = "/sys/fs/cgroup"
PERIOD = 100_000  # microseconds
CLONE_NEWNS, MS_REC, MS_SLAVE = 0x20000, 0x4000, 0x80000
_libc = ctypes.CDLL(None, use_errno=True)
UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


class CgroupError(RuntimeError):
    """Limits that cannot be set (one line for people)."""


def parse_memory(text: str) -> int:
    """`64m`, `1g`, `500k` or bytes."""
    match = re.fullmatch(r"(\d+)([bkmg]?)", text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise CgroupError(f"invalid --memory {text!r}: a size such as 512m or 1g")
    size = int(match.group(1)) * UNITS[match.group(2)]
    if size < 6 * 1024 ** 2:
        raise CgroupError(f"invalid --memory {text!r}: at least 6m")
    return size


def parse_cpus(text: str) -> float:
    try:
        cpus = float(text)
    except ValueError:
        cpus = 0
    if not 0.01 <= cpus <= os.cpu_count():
        raise CgroupError(f"invalid --cpus {text!r}: a number from 0.01 to {os.cpu_count()}")
    return cpus


def visible() -> None:
    """Make sure the cgroup file systems are mounted at /sys/fs/cgroup. `ip netns exec` mounts a
    sysfs of its own without them: then this process moves to a mount namespace of its own (the
    machine's and `ip`'s stay as they are) and mounts the hierarchies it is in, as the host has them."""
    if os.path.isdir(ROOT) and os.listdir(ROOT):
        return
    if _libc.unshare(CLONE_NEWNS) != 0 or _libc.mount(None, b"/", None, MS_REC | MS_SLAVE, None) != 0:
        raise CgroupError(f"--memory and --cpus need the cgroup file systems, and {ROOT} is empty here")
    _mount("tmpfs", ROOT, "tmpfs", "mode=755")
    with open("/proc/self/cgroup") as f:
        hierarchies = [line.split(":")[1] for line in f if line.strip()]
    if hierarchies == [""]:
        _mount("cgroup2", ROOT, "cgroup2", "")
        return
    for names in hierarchies:
        if names and {"memory", "cpu"} & set(names.split(",")):
            os.makedirs(os.path.join(ROOT, names), exist_ok=True)
            _mount("cgroup", os.path.join(ROOT, names), "cgroup", names)


def _mount(source: str, target: str, fstype: str, options: str) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), 0, options.encode() or None) != 0:
        err = ctypes.get_errno()
        raise CgroupError(f"cannot mount {fstype} ({options}) at {target}: {os.strerror(err)}")


def _own(controller: str) -> str:
    """pynet's own cgroup path in the hierarchy of `controller` ("" for v2)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return path
    return ""


def _unified() -> str:
    """The v2 mount point if the controllers live there, else ""."""
    for mount in (ROOT, os.path.join(ROOT, "unified")):
        try:
            with open(os.path.join(mount, "cgroup.controllers")) as f:
                if {"memory", "cpu"} <= set(f.read().split()):
                    return mount
        except FileNotFoundError:
            continue
    return ""


def plan(cid: str, memory: int = 0, cpus: float = 0) -> dict[str, dict[str, str]]:
    """The cgroup directories to make for a container and the files to write in each (no changes)."""
    visible()
    name = f"pynet-{cid[:12]}"
    values_v2 = {}
    if memory:
        values_v2["memory.max"] = str(memory)
    if cpus:
        values_v2["cpu.max"] = f"{int(cpus * PERIOD)} {PERIOD}"
    unified = _unified()
    if unified:
        parent = os.path.join(unified, _own("").lstrip("/"))
        if _has_processes(parent) and parent.rstrip("/") != unified:
            parent = os.path.join(unified, "pynet")
        return {os.path.join(parent, name): values_v2}
    found = {}
    if memory:
        found[os.path.join(ROOT, "memory", _own("memory").lstrip("/"), name)] = {"memory.limit_in_bytes": str(memory)}
    if cpus:
        found[os.path.join(ROOT, "cpu", _own("cpu").lstrip("/"), name)] = {
            "cpu.cfs_period_us": str(PERIOD), "cpu.cfs_quota_us": str(int(cpus * PERIOD))}
    return found


def _has_processes(path: str) -> bool:
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return bool(f.read().strip())
    except FileNotFoundError:
        return False


def create(directories: dict[str, dict[str, str]], pid: int) -> None:
    """Make the cgroups, write their limits and move process `pid` in; on failure nothing stays."""
    try:
        for path, values in directories.items():
            _enable_controllers(path, values)
            os.makedirs(path, exist_ok=True)
            for key, value in {**values, "cgroup.procs": str(pid)}.items():
                with open(os.path.join(path, key), "w") as f:
                    f.write(value)
    except OSError as e:
        remove(directories)
        raise CgroupError(f"cannot set the container's limits: {e.strerror}: {e.filename}") from None


def _enable_controllers(path: str, values: dict[str, str]) -> None:
    """v2: the parents of `path` must delegate memory and cpu to their children."""
    unified = _unified()
    if not unified or not path.startswith(unified):
        return
    wanted = " ".join(f"+{c}" for c in sorted({key.split(".")[0] for key in values}))
    parent, chain = os.path.dirname(path), []
    while parent.startswith(unified) and len(parent) >= len(unified):
        chain.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(chain):
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "cgroup.subtree_control"), "w") as f:
            f.write(wanted)


def join(directories) -> None:
    """Move the calling process into the cgroups (in a child between fork and exec, or before an
    exec; visible() has run in this process or its parent)."""
    for path in directories:
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))


def remove(directories) -> None:
    """Remove the cgroups (their processes are gone or going: a few tries)."""
    if directories:
        visible()
    for path in directories:
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
