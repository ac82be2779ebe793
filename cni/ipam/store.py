"""host-local's on-disk store, in the reference plugin's format so both can share one dataDir.

<dataDir>/<network>/<ip>                   "<container id>\\r\\n<ifname>" (older: the id alone)
<dataDir>/<network>/last_reserved_ip.<n>   the last address handed out from range set n
<dataDir>/<network>/lock                   flock()ed around every change, as the reference does

Writes are atomic: a reservation is written to a temporary file and hard-linked into place
(link fails if the address is taken), so a kill -9 at any instant leaves either no file or a whole
one; temporaries left by a killed process are removed under the lock by the next caller.

A reservation file never changes once written (a new owner is a new file), so a process that keeps
running (the agent) remembers what each file holds and looks again only at the names inotify says
changed (cni.ipam.watch): an ADD or a DEL costs the same with 1,000 containers as with 10. Without
inotify events (the first look, events lost) it lists the directory and reads the files whose inode
or change time it has not seen. What decides about a container's own addresses reads its files
again, and GC reads every file.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
from contextlib import contextmanager
from types import MappingProxyType

from ..files import read_regular
from ..spec import CNIError
from ..spec import errors
from . import watch

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
LAST_RESERVED = "last_reserved_ip."
TEMP_PREFIX = ".pynet-tmp-"
LINE_BREAK = "\r\n"
RECORD_MAX = 4096  # bytes of a reservation file: a container id (at most 255), CRLF, an ifname



class _Seen:
    """What this process read of one directory's reservation files, kept up to date by name."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, int]] = {}  # name -> (inode, change time) when read
        self.held: dict[str, tuple[str, str]] = {}  # name -> (container id, ifname)
        self.by_id: dict[str, set[str]] = {}  # container id -> names

    def put(self, name: str, identity: tuple[int, int], owner: tuple[str, str]) -> None:
        self.drop(name)
        self.files[name], self.held[name] = identity, owner
        self.by_id.setdefault(owner[0], set()).add(name)

    def drop(self, name: str) -> None:
        owner = self.held.pop(name, None)
        self.files.pop(name, None)
        if owner is not None:
            names = self.by_id[owner[0]]
            names.discard(name)
            if not names:
                del self.by_id[owner[0]]


_SEEN: dict[str, _Seen] = {}  # directory -> what this process read of it


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _io_error(what: str, path: str, error: OSError) -> CNIError:
    return CNIError(errors.IO_FAILURE, f"host-local cannot {what}", f"{path}: {error.strerror or error}")


class Store:
    """One network's reservations. Use `with store.locked():` around every read-modify-write."""

    def __init__(self, data_dir: str, network: str) -> None:
        data_dir = data_dir or DEFAULT_DATA_DIR
        self.directory = os.path.join(data_dir, network)
        if os.path.exists(data_dir) and not os.path.isdir(data_dir):
            raise CNIError(errors.IO_FAILURE, "host-local dataDir is not a directory",
                           f"{data_dir} exists and is a file; set ipam.dataDir to a directory")
        try:
            os.makedirs(self.directory, mode=0o755, exist_ok=True)
        except OSError as e:
            raise _io_error("create its data directory", self.directory, e) from None

    @contextmanager
    def locked(self):
        """The store under its lock; temporaries a killed process left are removed as the listing
        (or, in a resident process, inotify) finds them (see reservations)."""
        path = os.path.join(self.directory, "lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise _io_error("open its lock file", path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(fd)  # releases the flock

    def _remove_stale(self, name: str) -> None:
        """A temporary that exists while the lock is held was left by a writer that was killed."""
        try:
            os.unlink(os.path.join(self.directory, name))
        except FileNotFoundError:
            pass

    def _write_temporary(self, content: str) -> str:
        data = content.encode("utf-8")  # before the file exists: text that is not UTF-8 leaves none
        path = os.path.join(self.directory, TEMP_PREFIX + os.urandom(8).hex())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except OSError as e:
            raise _io_error("write a reservation", path, e) from None
        return path

    def reservations(self, container_id: str | None = None, also=(), cached: bool = True):
        """Every reserved address -> (container id, ifname) (ifname "" in the older format), as a
        read-only mapping. Files this process read before are not read again (see above), except
        those it saw held by `container_id` and the addresses in `also`; `cached=False` reads every
        file. Temporaries found on the way are removed (they can only be a killed writer's)."""
        changed = watch.changes(self.directory)  # (first: from here on, changes are seen)
        seen = _SEEN.get(self.directory) if cached else None
        if seen is not None and changed is not None:
            for name in changed | {str(a) for a in also} | seen.by_id.get(container_id, set()):
                seen.drop(name)
                if name.startswith(TEMP_PREFIX):
                    self._remove_stale(name)
                elif is_address(name) and (found := self._look(name)) is not None:
                    seen.put(name, *found)
        else:
            again = {str(a) for a in also} | (seen.by_id.get(container_id, set()) if seen else set())
            seen, old = _Seen(), seen or _Seen()
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(TEMP_PREFIX):
                        self._remove_stale(name)
                        continue
                    if name not in old.files and not is_address(name):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    identity = (st.st_ino, st.st_ctime_ns)  # a file put in its place has another
                    if old.files.get(name) == identity and name not in again:
                        seen.put(name, identity, old.held[name])
                    elif (owner := self._owner(name)) is not None:
                        seen.put(name, identity, owner)
        _SEEN[self.directory] = seen
        return MappingProxyType(seen.held)

    def held_by(self, container_id: str) -> list[str]:
        """The addresses the last reservations() found held by `container_id` (read again then)."""
        seen = _SEEN.get(self.directory)
        return sorted(seen.by_id.get(container_id, ())) if seen else []

    def _look(self, name: str) -> tuple[tuple[int, int], tuple[str, str]] | None:
        """((inode, change time), owner) of reservation file `name`; None if it is gone."""
        try:
            st = os.stat(os.path.join(self.directory, name), follow_symlinks=False)
        except FileNotFoundError:
            return None
        owner = self._owner(name)
        return None if owner is None else ((st.st_ino, st.st_ctime_ns), owner)

    def _owner(self, name: str) -> tuple[str, str] | None:
        """(container id, ifname) in reservation file `name`; None if it is gone."""
        path = os.path.join(self.directory, name)
        try:
            content = read_regular(path, RECORD_MAX).decode("utf-8", "replace").strip()
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EINVAL):
                return None  # released meanwhile, or no reservation (a directory, a FIFO, ...)
            raise _io_error("read a reservation", path, e) from None
        container_id, _, ifname = content.partition(LINE_BREAK)
        return container_id.strip(), ifname.strip()

    def reserve(self, address, container_id: str, ifname: str, range_set: int) -> bool:
        """Take `address` for the container; False if it is already taken."""
        final = os.path.join(self.directory, str(address))
        temporary = self._write_temporary(container_id.strip() + LINE_BREAK + ifname)
        try:
            os.link(temporary, final)
        except FileExistsError:
            return False
        except OSError as e:
            raise _io_error("reserve an address", final, e) from None
        finally:
            os.unlink(temporary)
        self._write_last_reserved(range_set, address)
        return True

    def _write_last_reserved(self, range_set: int, address) -> None:
        """Put a new file in place of the hint: the old one removed first, then the new one renamed
        in. Renaming over it made ext4 write the file's data to disk at once (auto_da_alloc), 3-5 ms
        per ADD, as truncating it would; a kill -9 between the two steps leaves no hint (the range
        starts over), never a partial one."""
        path = os.path.join(self.directory, f"{LAST_RESERVED}{range_set}")
        temporary = self._write_temporary(str(address))
        try:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            os.rename(temporary, path)
        except OSError as e:
            os.unlink(temporary)
            raise _io_error("record the last reserved address", path, e) from None

    def last_reserved(self, range_set: int):
        """The last address handed out from range set `range_set`, or None."""
        try:
            text = read_regular(os.path.join(self.directory, f"{LAST_RESERVED}{range_set}"), RECORD_MAX)
            return ipaddress.ip_address(text.decode("ascii").strip())
        except (OSError, ValueError):
            return None

    def owned_by(self, container_id: str, ifname: str, also=()) -> list[str]:
        """Addresses held by (container id, ifname); the older id-only files count when none match.
        `also`: addresses the caller believes are the container's (prevResult's), read in any case."""
        held = self.reservations(container_id, also)
        held = {ip: held[ip] for ip in self.held_by(container_id)}
        exact = [ip for ip, owner in held.items() if owner == (container_id, ifname)]
        return exact or [ip for ip, owner in held.items() if owner == (container_id, "")]

    def release(self, addresses) -> None:
        for address in addresses:
            try:
                os.unlink(os.path.join(self.directory, str(address)))
            except FileNotFoundError:
                pass
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise _io_error("release an address", str(address), e) from None
