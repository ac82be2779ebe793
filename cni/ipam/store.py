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

from ..files import read_regular
from ..spec import CNIError
from ..spec import errors
from . import watch

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
LAST_RESERVED = "last_reserved_ip."
TEMP_PREFIX = ".pynet-tmp-"
LINE_BREAK = "\r\n"
RECORD_MAX = 4096  # bytes of a reservation file: a container id (at most 255), CRLF, an ifname

# directory -> {file name: ((inode, change time), (container id, ifname))}, as last read in this process
_SEEN: dict[str, dict[str, tuple[tuple[int, int], tuple[str, str]]]] = {}


def _is_address(name: str) -> bool:
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
        path = os.path.join(self.directory, "lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise _io_error("open its lock file", path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._remove_stale_temporaries()
            yield self
        finally:
            os.close(fd)  # releases the flock

    def _remove_stale_temporaries(self) -> None:
        for name in os.listdir(self.directory):
            if name.startswith(TEMP_PREFIX):
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

    def reservations(self, container_id: str | None = None, also=(), cached: bool = True) -> dict[str, tuple[str, str]]:
        """Every reserved address -> (container id, ifname); ifname is "" in the older format.

        Files this process read before are not read again (see above), except those it saw held
        by `container_id` and the addresses in `also`; `cached=False` reads every file."""
        changed = watch.changes(self.directory)  # (first: from here on, changes are seen)
        seen = _SEEN.get(self.directory, {}) if cached else {}
        again = {str(a) for a in also} | {name for name, (_, owner) in seen.items() if owner[0] == container_id}
        if changed is not None and cached and self.directory in _SEEN:
            now = dict(seen)
            for name in changed | again:
                now.pop(name, None)
                if _is_address(name) and (found := self._look(name)) is not None:
                    now[name] = found
        else:
            now = {}
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    known = seen.get(entry.name)
                    if known is None and not _is_address(entry.name):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    identity = (st.st_ino, st.st_ctime_ns)  # a file put in its place has another
                    if known is not None and known[0] == identity and entry.name not in again:
                        now[entry.name] = known
                    elif (owner := self._owner(entry.name)) is not None:
                        now[entry.name] = (identity, owner)
        _SEEN[self.directory] = now
        return {name: owner for name, (_, owner) in now.items()}

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
