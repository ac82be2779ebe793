"""Which entries of a directory changed since this process last looked (inotify), so a process that
keeps running (the agent) looks again at those only, whoever changed them (another agent worker, a
plugin run in-process, the reference's host-local sharing the directory).

`changes(path)` is None the first time (the watch starts: look at everything) and whenever events
may have been lost; afterwards, the set of names created, deleted, moved or written since the call
before. Standard library only (inotify through ctypes).
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
WATCHED = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
           | IN_DELETE_SELF | IN_MOVE_SELF)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, length of the name that follows


class Watcher:
    """The directories this process watches and the names changed in each since it last asked."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.paths: dict[str, int] = {}  # path -> watch descriptor
        self.changed: dict[int, set[str] | None] = {}  # watch descriptor -> names (None: everything)
        libc = ctypes.CDLL(None, use_errno=True)
        self._add_watch = libc.inotify_add_watch
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)

    def changes(self, path: str) -> set[str] | None:
        with self.lock:
            self._read()
            wd = self.paths.get(path)
            if wd is None or self.changed.get(wd, None) is None:
                self._watch(path)
                return None
            names, self.changed[wd] = self.changed[wd], set()
            return names

    def _watch(self, path: str) -> None:
        wd = self._add_watch(self.fd, os.fsencode(path), WATCHED) if self.fd >= 0 else -1
        if wd >= 0:
            self.paths[path] = wd
            self.changed[wd] = set()

    def _read(self) -> None:
        while self.fd >= 0:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _, size = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size:offset + _EVENT.size + size].rstrip(b"\0")
                offset += _EVENT.size + size
                if mask & IN_Q_OVERFLOW:  # events were lost: every directory is looked at again
                    self.changed = dict.fromkeys(self.changed)
                elif mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                    self.changed[wd] = None
                    self.paths = {p: w for p, w in self.paths.items() if w != wd}
                elif self.changed.get(wd) is not None and name:
                    self.changed[wd].add(os.fsdecode(name))


_watcher: Watcher | None = None
_made = threading.Lock()


def changes(path: str) -> set[str] | None:
    """Names changed in the directory `path` since this process last asked (None: look at all)."""
    global _watcher
    with _made:
        if _watcher is None or _watcher.pid != os.getpid():  # (a forked child watches for itself)
            _watcher = Watcher()
        watcher = _watcher
    return watcher.changes(path)
