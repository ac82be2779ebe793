"""A container's namespaces, held by its holder process (see holder.py): start, enter, stop, end.

Processes are named by (pid, start time), so a PID the kernel reused for another process is never
mistaken for the container's (and never signalled, nor its network namespace given to a plugin).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

HOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "holder.py")


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # clock ticks after boot (field 22 of /proc/PID/stat)

    @classmethod
    def of(cls, pid: int) -> Proc:
        return cls(pid, _stat(pid)[1])

    @classmethod
    def load(cls, data: dict | None) -> Proc | None:
        return cls(**data) if data else None

    def alive(self) -> bool:
        state, start = _stat(self.pid)
        return start == self.start and state not in ("Z", "X", "")


def _stat(pid: int) -> tuple[str, int]:
    """(state, start time) of a process; ("", 0) when there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return "", 0
    return fields[0], int(fields[19])


class HolderError(RuntimeError):
    """The namespaces could not be made."""


def start_holder(hostname: str, rootfs: str = "", net: str = "new") -> Proc:
    """New mount/UTS/IPC/PID namespaces (and network, see holder.py) held by a new holder."""
    argv = [sys.executable, "-I", HOLDER, "--hostname", hostname, "--net", net]
    if rootfs:
        argv += ["--rootfs", rootfs]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          timeout=30)
    lines = done.stdout.decode(errors="replace").splitlines()
    problems = [line[len("error: "):] for line in lines if line.startswith("error: ")]
    if problems or done.returncode != 0 or not lines:  # a holder that reports a problem has exited
        raise HolderError(f"cannot create the container's namespaces: {'; '.join(problems) or 'holder failed'}")
    return Proc.of(int(lines[0]))


def netns_path(holder: Proc | None) -> str:
    """The holder's network namespace; a path that does not exist once the holder is gone."""
    if holder and holder.alive():
        return f"/proc/{holder.pid}/ns/net"
    return "/proc/0/ns/net"  # never exists: plugins treat the namespace as gone


def enter_argv(holder: Proc, argv: list[str]) -> list[str]:
    """Run `argv` in all the holder's namespaces, its root (the rootfs) and working directory."""
    return ["nsenter", f"--target={holder.pid}", "--net", "--uts", "--ipc", "--pid", "--mount", "--root", "--wd",
            "--", *argv]


def members(holder: Proc) -> list[int]:
    """The processes of the holder's PID namespace, but the holder itself."""
    try:
        ns = os.readlink(f"/proc/{holder.pid}/ns/pid")
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != holder.pid:
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def signal_members(holder: Proc, sig: int) -> None:
    """Send `sig` to every process of the container but the holder."""
    for pid in members(holder):
        _signal(pid, sig)


def stop(holder: Proc, timeout: float = 10) -> None:
    """SIGTERM every process of the container, SIGKILL what is left after `timeout` seconds.
    The holder stays: the namespaces (and the network) live until the container is removed."""
    if not holder.alive():
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        signal_members(holder, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5)
        while time.monotonic() < deadline and any(_stat(p)[0] not in ("Z", "") for p in members(holder)):
            time.sleep(0.05)


def end(holder: Proc | None) -> None:
    """Kill the holder, and with it every process of the container; wait until it is gone."""
    if holder and holder.alive():
        _kill(holder.pid)


def _kill(pid: int) -> None:
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _stat(pid)[0] not in ("Z", ""):
        time.sleep(0.02)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
