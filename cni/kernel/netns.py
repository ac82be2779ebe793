"""Network namespaces by path: enter one for a moment, never create one by accident."""

from __future__ import annotations

import ctypes
import errno
import os
from contextlib import contextmanager

from ..files import open_regular
from ..spec import CNIError
from ..spec import errors

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsGone(CNIError):
    """The namespace path does not exist (any more)."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def open_netns(path: str) -> int:
    """An fd of the network namespace at `path` (a CNI error if it is missing or not a netns)."""
    try:
        return open_regular(path)  # a namespace file is regular; a FIFO would block open()
    except FileNotFoundError:
        raise NetnsGone(errors.UNKNOWN_CONTAINER, "the container's network namespace does not exist",
                        f"{path} is missing") from None
    except OSError as e:
        raise CNIError(errors.INVALID_ENVIRONMENT, "cannot open the network namespace",
                       f"{path}: {e.strerror}") from None


@contextmanager
def entered(path: str):
    """Run the with-block in the network namespace at `path`, then come back (this thread only).

    Netlink sockets and /proc/sys/net files opened inside stay bound to that namespace after the
    block, so callers open what they need inside and work with it outside.
    """
    target = open_netns(path)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _enter(target, path)
        try:
            yield
        finally:
            try:
                _setns(home)
            except OSError:  # staying in the container's namespace would be worse than dying
                os._exit(70)
    finally:
        os.close(target)
        os.close(home)


def join(path: str) -> None:
    """This thread joins the network namespace at `path` for good (a process started for it)."""
    target = open_netns(path)
    try:
        _enter(target, path)
    finally:
        os.close(target)


def _enter(target: int, path: str) -> None:
    """setns() into the namespace file `target` (opened from `path`), a refusal a CNI error."""
    try:
        _setns(target)
    except OSError as e:
        code = errors.INVALID_ENVIRONMENT if e.errno == errno.EINVAL else errors.KERNEL
        raise CNIError(code, "cannot enter the network namespace", f"{path}: {e.strerror}") from None


def pids_in(*paths: str) -> list[int]:
    """The processes whose network namespace is one of those at `paths` (like `ip netns pids`)."""
    targets = set()
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        targets.add((st.st_dev, st.st_ino))
    pids = []
    for entry in os.listdir("/proc") if targets else ():
        if entry.isdigit():
            try:
                st = os.stat(f"/proc/{entry}/ns/net")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in targets and int(entry) != os.getpid():
                pids.append(int(entry))
    return pids


def alive(pid: int) -> bool:
    """Is process `pid` there (and not a zombie: a zombie has released everything it held)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def kill_all_in(*paths: str, wait: float = 5.0) -> None:
    """SIGKILL every process in the namespaces at `paths` (a pynet agent there keeps it alive, with
    its links, after `ip netns delete`), and wait up to `wait` s until they have exited (a process
    leaves its namespace before its last files are closed: only then is a killed agent's lock free),
    killing any that appear meanwhile."""
    import signal
    import time

    end = time.monotonic() + wait
    killed: set[int] = set()
    while True:
        for pid in pids_in(*paths):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        killed = {pid for pid in killed if alive(pid)}
        if not killed and not pids_in(*paths) or time.monotonic() >= end:
            return
        time.sleep(0.01)