"""What the agent and its callers share: where the socket is, which build answers, the framing.

Standard library only: every plugin process imports this before it knows whether an agent is up.

A message is a 4-byte count of fields, then each field as a 4-byte length and its bytes.
Request fields: MAGIC, build id, plugin name, deadline (Unix time), environment, stdin.
Answer fields: status (ok, stale, refused), exit code, stdout, stderr.
"""

from __future__ import annotations

import os
import struct

MAGIC = b"pynet-agent/1"
DEFAULT_RUN_DIR = "/run/pynet"
DEFAULT_TIMEOUT = 120.0  # seconds a request may take before its caller gets "try again later"
MAX_FIELD = 64 << 20

_HEADER = struct.Struct("!I")


def run_dir(env=os.environ) -> str:
    return env.get("PYNET_RUN_DIR") or DEFAULT_RUN_DIR


def netns_id() -> int:
    """The inode of this thread's network namespace: an agent serves exactly one namespace."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def socket_path(env=os.environ, netns: int | None = None) -> str:
    """The agent socket for this network namespace (a fixed name for the host's initial one)."""
    netns = netns_id() if netns is None else netns
    try:
        initial = os.stat("/proc/1/ns/net").st_ino == netns
    except OSError:  # pid 1 of another pid namespace, or no /proc/1 access: name it by inode
        initial = False
    name = "agent.sock" if initial else f"agent-net{netns}.sock"
    return os.path.join(run_dir(env), name)


def build_id() -> str:
    """This installation's version and code: an agent of another build must not answer."""
    from .. import __version__

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stamp = 0
    pending = [package]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    stamp = (stamp * 1000003 + st.st_mtime_ns + st.st_size) & 0xFFFFFFFFFFFF
                elif entry.is_dir() and entry.name != "__pycache__":
                    pending.append(entry.path)
    return f"{__version__}+{stamp:012x}"


def pack(fields: list[bytes]) -> bytes:
    parts = [_HEADER.pack(len(fields))]
    for field in fields:
        parts += [_HEADER.pack(len(field)), field]
    return b"".join(parts)


def _exactly(sock, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def receive(sock, max_fields: int = 16) -> list[bytes]:
    """One message from `sock`; EOFError if the peer went away, ValueError if it is malformed."""
    (count,) = _HEADER.unpack(_exactly(sock, 4))
    if count > max_fields:
        raise ValueError(f"{count} fields")
    fields = []
    for _ in range(count):
        (size,) = _HEADER.unpack(_exactly(sock, 4))
        if size > MAX_FIELD:
            raise ValueError(f"field of {size} bytes")
        fields.append(_exactly(sock, size))
    return fields


def encode_env(env) -> bytes:
    return b"\0".join(f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in env.items())


def decode_env(blob: bytes) -> dict[str, str]:
    env = {}
    for item in blob.split(b"\0") if blob else ():
        key, _, value = item.decode("utf-8", "surrogateescape").partition("=")
        env[key] = value
    return env
