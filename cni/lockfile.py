"""The lock file of a process that serves something (a namespace's agent, its DNS server): held with
flock(2) for as long as it serves, what it says written in it, and removed by the holder while it
still holds it. A claimer that locked a file removed meanwhile locks the new one (the inode is
checked), so a leaving holder and a new one never both believe they hold it.
"""

from __future__ import annotations

import fcntl
import os


def claim(path: str):
    """The lock at `path`, held (an open file), or None if another process holds it."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        if same_file(handle, path):
            return handle
        handle.close()  # its holder removed the file we locked, leaving: lock the new one


def same_file(handle, path: str) -> bool:
    """Is the open file `handle` the file at `path` (not one removed since)?"""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def mark(handle, text: str) -> None:
    """Write `text` (what the holder is) in the lock it holds, in place of what was there."""
    handle.seek(0)
    handle.truncate()
    handle.write(f"{text}\n")
    handle.flush()


def release(handle, path: str, *companions: str) -> None:
    """Remove the lock file at `path` (and the `companions`, a socket say: first) while holding it,
    then let go. Nothing to do for None (a lock not held)."""
    if handle is None:
        return
    if same_file(handle, path):
        for name in (*companions, path):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
    handle.close()


def sweep(directory: str, prefix: str, suffix: str, keep: str, companion=None) -> None:
    """Remove the lock files `prefix*suffix` in `directory` that nobody holds (but `keep`): their
    holders are gone without leaving (killed with their namespace, say); with each, the file
    `companion(lock path)` names, if any."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(prefix) and name.endswith(suffix) and path != keep:
            try:
                handle = claim(path)  # (None: held, its holder serves)
            except OSError:
                continue
            release(handle, path, *([companion(path)] if companion and handle else []))
