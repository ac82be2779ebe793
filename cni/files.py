"""Files written whole or not at all."""

from __future__ import annotations

import os
import tempfile


def write_atomic(path: str, data: bytes, prefix: str = ".pynet-", dir_mode: int = 0o700) -> None:
    """Write `data` to `path` through a temporary file renamed into place, so a reader (or a crash)
    never sees half a file. The directory is created if missing. Raises OSError."""
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
