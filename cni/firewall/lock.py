"""One firewall change at a time per network namespace, leaving nothing behind.

The lock is a flock on the namespace itself (`/proc/thread-self/ns/net`, the nsfs inode every
process of that namespace shares): it serialises exactly the processes and agent threads that change
the same firewall, is released when its holder dies (kill -9 included) and needs no file of its own,
so nothing stays on disk after the last DEL. Re-entrant within a thread (a driver may call another's
locked method while holding it).
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager

_held = threading.local()


@contextmanager
def host_lock():
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
    finally:
        os.close(fd)  # releases the flock
