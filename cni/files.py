"""Files written whole or not at all, and read only if they are regular files of bounded size."""

from __future__ import annotations

import errno
import os
import stat

from .spec.limits import MAX_FILE_BYTES


def write_atomic(path: str, data: bytes, prefix: str = ".pynet-", dir_mode: int = 0o700) -> None:
    """Write `data` to `path` through a temporary file renamed into place, so a reader (or a crash)
    never sees half a file. The directory is created if missing. Raises OSError."""
    import tempfile  # not at import time: most users of this module only read

    directory = os.path.dirname(path)
    os.makedirs(directory, mode=dir_mode, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def open_regular(path: str, flags: int = os.O_RDONLY) -> int:
    """An fd of the regular file at `path`, opened with `flags`.

    What is not a regular file is refused (OSError EINVAL) before it is opened for real: a FIFO would
    block open() until a writer comes, a device may never end (/dev/zero) or act on open.
    """
    probe = os.open(path, os.O_PATH | os.O_CLOEXEC)  # never blocks, never touches a device
    try:
        mode = os.fstat(probe).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _KINDS if test(mode)), "not a file")
            raise OSError(errno.EINVAL, f"{kind}, not a regular file", path)
        return os.open(f"/proc/self/fd/{probe}", flags | os.O_CLOEXEC)  # the very file probed
    finally:
        os.close(probe)


def read_regular(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The contents of the regular file at `path`; OSError if it is none (see open_regular) or if it
    is larger than `limit` bytes (EFBIG), so no read blocks or lasts until memory runs out."""
    with os.fdopen(open_regular(path), "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", path)
    return data
