"""WireGuard keys of a host: Curve25519 (X25519, RFC 7748) in pure Python, standard library only.

A host makes its key pair itself and keeps the private key in a file of mode 0600 (never in the
store, a result or a log); peers learn only the public key. Keys are 32 bytes, written in base64
as `wg` writes them. X25519 here runs once per key made (a few milliseconds), never per packet: the
kernel does the cryptography of the traffic.
"""

from __future__ import annotations

import base64
import os

P = 2**255 - 19
A24 = 121665
BASE_POINT = 9


def _decode_scalar(k: bytes) -> int:
    """RFC 7748 5: clamp the scalar."""
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(b, "little")


def x25519(scalar: bytes, u: bytes) -> bytes:
    """The X25519 function of RFC 7748 (the Montgomery ladder, section 5)."""
    if len(scalar) != 32 or len(u) != 32:
        raise ValueError("X25519 takes 32-byte scalars and u-coordinates")
    k = _decode_scalar(scalar)
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + A24 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def public_key(private: str) -> str:
    """The base64 public key of a base64 private key."""
    return base64.b64encode(x25519(base64.b64decode(private), BASE_POINT.to_bytes(32, "little"))).decode()


def new_private_key() -> str:
    """A fresh private key, clamped as `wg genkey` writes it."""
    raw = bytearray(os.urandom(32))
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    return base64.b64encode(bytes(raw)).decode()


def host_key(path: str) -> tuple[str, str]:
    """(private, public) of the key pair in file `path`, made (mode 0600, never readable by others
    for a moment) if there is none."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        with open(path) as f:
            private = f.read().strip()
    else:
        private = new_private_key()
        with os.fdopen(fd, "w") as f:
            f.write(private + "\n")
    return private, public_key(private)


def public_of(path: str) -> str:
    """The public key of the private key in file `path` ("" if there is none)."""
    try:
        with open(path) as f:
            return public_key(f.read().strip())
    except (OSError, ValueError):
        return ""


def rotate(path: str) -> tuple[str, str]:
    """A new key pair in place of the one in `path` (written whole: temporary file, then rename)."""
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    private = new_private_key()
    with os.fdopen(fd, "w") as f:
        f.write(private + "\n")
    os.replace(temporary, path)
    return private, public_key(private)
