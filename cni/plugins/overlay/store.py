"""Where the hosts of an overlay meet: key → JSON record, each with an optional time to live.

Two stores with the same operations: `FileStore` (one flock'ed JSON file, for hosts simulated on one
machine) and `EtcdStore` (etcd v3, in etcd.py). Records whose TTL ran out are invisible and are
dropped by the next write. `cluster.open_store` picks one from the configuration.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import time
from contextlib import contextmanager

from ...files import read_regular
from ...ipam.watch import Watcher
from ...spec import CNIError
from ...spec import errors

STORE_MAX = 64 << 20  # bytes of a file store (its records are about 200 bytes per host)


class Store:
    """The operations the overlay needs; every one is atomic."""

    def list(self, prefix: str) -> dict[str, dict]:
        """Live records whose key starts with `prefix`."""
        raise NotImplementedError

    def create(self, key: str, value: dict, ttl: int | None = None) -> bool:
        """Write `key` only if it does not exist (compare-and-set); False if it does."""
        raise NotImplementedError

    def put(self, key: str, value: dict, ttl: int | None = None) -> None:
        """Write `key` whatever it holds, with a fresh TTL."""
        raise NotImplementedError

    def refresh(self, key: str, ttl: int) -> bool:
        """Renew `key`'s TTL; False if it is gone (expired or deleted)."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def watch(self, prefix: str, timeout: float) -> bool:
        """Wait up to `timeout` s for a change under `prefix` since this store was last read; True
        if one came (or may have: look again), False if the time ran out quietly."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileStore(Store):
    """Records in one JSON file, written whole (temporary file + rename) under an flock on `<path>.lock`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._watcher = None  # inotify on the file's directory, from the first watch() on
        self._seen: dict | None = None  # the live records as the first read after the last watch() found them

    def watch(self, prefix: str, timeout: float) -> bool:
        """A rewrite of the file that changes a record under `prefix` since the first read after the
        last watch counts; one that only renews TTLs does not (as etcd's lease keepalives are no event:
        with twenty hosts renewing, every rewrite woke every member daemon). A TTL running out is no
        event either: the caller's timeout sees to it."""
        seen, self._seen = self._seen, None  # the next read starts the next snapshot
        directory, name = os.path.split(self.path)
        if self._watcher is None:
            self._watcher = Watcher()
            self._watcher.changes(directory)  # from now on
        if self._watcher.fd < 0 or seen is None:  # no inotify here, or nothing read to compare with
            time.sleep(timeout if self._watcher.fd < 0 else 0)
            return True
        deadline = time.monotonic() + timeout
        self._watcher.changes(directory)
        changed = None  # compare once in any case: the first watch() started inotify after that read
        while True:
            if changed is None or name in changed:
                with self._locked(write=False, snapshot=False) as records:
                    if _values(records, prefix) != _values(seen, prefix):
                        return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([self._watcher.fd], [], [], left)
            changed = self._watcher.changes(directory)

    @contextmanager
    def _locked(self, write: bool, snapshot: bool = True):
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            # a reader's lock file is opened read-only: closing it is no inotify event that wakes every watch()
            lock = os.open(self.path + ".lock", (os.O_RDWR if write else os.O_RDONLY) | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise CNIError(errors.IO_FAILURE, "cannot open the overlay's file store",
                           f"{self.path}: {e.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            records = self._read()
            now = time.time()
            live = {k: r for k, r in records.items() if r.get("expires") is None or r["expires"] > now}
            if snapshot and self._seen is None:
                self._seen = dict(live)
            yield live
            if write:
                self._write(live)
        finally:
            os.close(lock)

    def _read(self) -> dict:
        try:
            return json.loads(read_regular(self.path, STORE_MAX)).get("records", {})
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError) as e:
            raise CNIError(errors.IO_FAILURE, "the overlay's file store is unreadable", f"{self.path}: {e}") from None

    def _write(self, records: dict) -> None:
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(temporary, "w") as f:
                json.dump({"records": records}, f, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except OSError as e:
            raise CNIError(errors.IO_FAILURE, "cannot write the overlay's file store",
                           f"{self.path}: {e.strerror}") from None

    @staticmethod
    def _record(value: dict, ttl: int | None) -> dict:
        return {"value": value, "expires": time.time() + ttl if ttl else None}

    def list(self, prefix: str) -> dict[str, dict]:
        with self._locked(write=False) as records:
            return {k: r["value"] for k, r in records.items() if k.startswith(prefix)}

    def create(self, key: str, value: dict, ttl: int | None = None) -> bool:
        with self._locked(write=True) as records:
            if key in records:
                return False
            records[key] = self._record(value, ttl)
            return True

    def put(self, key: str, value: dict, ttl: int | None = None) -> None:
        with self._locked(write=True) as records:
            records[key] = self._record(value, ttl)

    def refresh(self, key: str, ttl: int) -> bool:
        with self._locked(write=True) as records:
            if key not in records:
                return False
            records[key] = self._record(records[key]["value"], ttl)
            return True

    def delete(self, key: str) -> None:
        with self._locked(write=True) as records:
            records.pop(key, None)


def _values(records: dict, prefix: str) -> dict:
    """The records' values under `prefix`, without their expiry."""
    return {k: r["value"] for k, r in records.items() if k.startswith(prefix)}
