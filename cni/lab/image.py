"""The VM lab's boot files: the stock kernel, a busybox initramfs with its modules (built once per
kernel and script version, cached), and per-VM cpio archives appended to it."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from importlib import resources

QEMU = "qemu-system-x86_64"
CACHE = os.environ.get("PYNET_VM_CACHE", "/var/tmp/pynet-vm")


def _version_key(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def kernel() -> tuple[str, str] | None:
    """(path, version) of the newest /boot/vmlinuz-* (or $PYNET_VM_KERNEL), or None."""
    path = os.environ.get("PYNET_VM_KERNEL")
    if not path:
        found = sorted((n for n in os.listdir("/boot") if n.startswith("vmlinuz-")), key=_version_key) \
            if os.path.isdir("/boot") else []
        if not found:
            return None
        path = os.path.join("/boot", found[-1])
    return path, os.path.basename(path).removeprefix("vmlinuz-")


def missing() -> str:
    """Why VMs cannot be booted here ("" if they can): qemu, a kernel with its modules, busybox-static."""
    if not shutil.which(QEMU):
        return f"{QEMU} not found (apt-get install qemu-system-x86)"
    found = kernel()
    if not found or not os.path.isfile(found[0]):
        where = f"PYNET_VM_KERNEL={found[0]} does not exist" if found else "no kernel in /boot"
        return f"{where} (apt-get install linux-image-amd64)"
    if not os.path.isdir(f"/lib/modules/{found[1]}"):
        return f"no /lib/modules/{found[1]} for {found[0]}"
    busybox = shutil.which("busybox")
    if not busybox:
        return "busybox not found (apt-get install busybox-static)"
    if subprocess.run(["ldd", busybox], capture_output=True).returncode == 0:
        return f"{busybox} is dynamically linked (apt-get install busybox-static)"
    return ""


def _script() -> bytes:
    return resources.files("cni.lab").joinpath("initramfs.sh").read_bytes()


def base_image(cache: str = CACHE) -> str:
    """The base initramfs for the current kernel, built on first use (under a lock, so parallel test
    workers build it once) and kept in `cache` under a name holding the kernel version and script hash."""
    version = kernel()[1]
    script = _script()
    key = hashlib.sha256(version.encode() + b"\0" + script).hexdigest()[:16]
    path = os.path.join(cache, f"initramfs-{version}-{key}.cpio.gz")
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                runner = os.path.join(tmp, "initramfs.sh")
                with open(runner, "wb") as f:
                    f.write(script)
                built = os.path.join(tmp, "image.cpio.gz")
                subprocess.run(["sh", runner, built, version], check=True, capture_output=True)
                os.replace(built, path)
    return path


def _newc(name: str, data: bytes, mode: int, ino: int) -> bytes:
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
    header = b"070701" + b"".join(b"%08X" % v for v in fields) + name.encode() + b"\0"
    pad = lambda n: b"\0" * (-n % 4)  # noqa: E731
    return header + pad(len(header)) + data + pad(len(data))


def files_cpio(files: dict[str, bytes]) -> bytes:
    """A gzip'd newc cpio archive of executable files (name -> content) at the root, to append to the
    base image: the kernel unpacks concatenated archives in order."""
    body = b"".join(_newc(name, data, 0o100755, i + 1) for i, (name, data) in enumerate(files.items()))
    return gzip.compress(body + _newc("TRAILER!!!", b"", 0, 0), compresslevel=1)
