"""This host's own state for one overlay, under $PYNET_STATE_DIR/overlay/<name>/:

lock        flock()ed around every ADD/DEL and each member daemon pass, so they never interleave
lease.json  the lease and the store this host joined with (what the member daemon works from)
wg.key      an encrypted network's WireGuard private key (0600; made on the first ADD, gone on leaving)
ipam/       host-local's reservations on the lease's subnet
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import shutil
from contextlib import contextmanager

from ...files import read_regular
from ...spec import CNIError
from ...spec import errors


@contextmanager
def locked(state_dir: str):
    try:
        os.makedirs(state_dir, exist_ok=True)
        fd = os.open(os.path.join(state_dir, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise CNIError(errors.IO_FAILURE, "cannot open the overlay's state directory",
                       f"{state_dir}: {e.strerror} (set PYNET_STATE_DIR to a writable directory)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _path(state_dir: str) -> str:
    return os.path.join(state_dir, "lease.json")


def read(state_dir: str) -> dict | None:
    try:
        return json.loads(read_regular(_path(state_dir)))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise CNIError(errors.IO_FAILURE, "the overlay's local state is unreadable",
                       f"{_path(state_dir)}: {e}") from None


def write(state_dir: str, state: dict) -> None:
    temporary = _path(state_dir) + ".tmp"
    with open(temporary, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(temporary, _path(state_dir))


def forget(state_dir: str) -> None:
    """Remove the lease file, the WireGuard key and IPAM data (the lock stays: it may be held)."""
    for name in ("lease.json", "lease.json.tmp", "wg.key"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    shutil.rmtree(os.path.join(state_dir, "ipam"), ignore_errors=True)


def containers(ipam_dir: str, network: str) -> int:
    """How many addresses host-local has handed out here (one per attached container)."""
    try:
        names = os.listdir(os.path.join(ipam_dir, network))
    except FileNotFoundError:
        return 0
    count = 0
    for name in names:
        try:
            ipaddress.ip_address(name)
            count += 1
        except ValueError:
            pass
    return count
