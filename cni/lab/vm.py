"""Small qemu VMs booting the stock kernel, for what this machine's kernel cannot do (ipvlan, VLAN, ...).

A `Lab` is a throwaway network namespace on this machine holding bridge br0 (10.77.0.254/24); each
VM's virtio NIC is a tap port of it, with 10.77.0.N/24 and a default route via the bridge. Nothing
touches this machine's own links, routes or firewall. A VM runs one shell script (busybox sh, with
`hostrun DIR CMD...` running this machine's programs in a read-only chroot of its /), writes files
to /tmp/share (a host directory) and powers off. TCG unless PYNET_VM_ACCEL=kvm; at most
PYNET_VM_MAX (2) VMs run at once on this machine, whoever starts them (labs reserve their slots).
`pynet lab up --vm` (vmhosts.py) boots long-running VMs from the same image and command line.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

from .image import CACHE, QEMU, base_image, files_cpio, kernel

SUBNET = "10.77.0"
SLOTS = os.path.join(CACHE, "slots")  # lock files, kept with the cached images


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _accel() -> list[str]:
    if os.environ.get("PYNET_VM_ACCEL") == "kvm":
        return ["-accel", "kvm", "-cpu", os.environ.get("PYNET_VM_CPU", "host")]
    return ["-accel", "tcg,thread=multi", "-cpu", "max"]


def vm_max() -> int:
    """How many VMs may run at once on this machine ($PYNET_VM_MAX, default 2)."""
    return int(os.environ.get("PYNET_VM_MAX", "2"))


def _slots(count: int, timeout: float | None = None) -> list[int]:
    """`count` open, locked slot files, taken all at once: blocks while fewer are free on this machine
    (TimeoutError after `timeout` s). A slot is held as long as its file is open, also by a child
    process that inherits it (a lab's detached qemu)."""
    os.makedirs(SLOTS, exist_ok=True)
    total = vm_max()
    if count > total:
        raise ValueError(f"a lab of {count} VMs needs PYNET_VM_MAX >= {count}")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        held = []
        for n in range(total):
            fd = os.open(os.path.join(SLOTS, f"slot{n}"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(fd)
            except BlockingIOError:
                os.close(fd)
            if len(held) == count:
                return held
        for fd in held:
            os.close(fd)
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} of the {total} VM slots were free for {timeout:.0f} s")
        time.sleep(0.5)



def _tmpkeep() -> str:
    """The host paths under /tmp the guest must still see (pynet itself and its Python, when they
    live there, as in a CI clone): the guest's /tmp is a tmpfs of its own."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    keep = sorted({p for p in (package_root, sys.prefix, os.path.realpath(sys.prefix)) if p.startswith("/tmp/")})
    return f" vmlab.tmpkeep={','.join(keep)}" if keep else ""


def write_image(path: str, index: int, script: str, subnet: str = SUBNET) -> None:
    """VM `index`'s initrd: the base image plus /vmlab.sh, which gives eth0 {subnet}.{index}/24 (default
    route via .254) and then runs `script`."""
    header = (f"VMLAB_N={index}\nip link set eth0 up\nip addr add {subnet}.{index}/24 dev eth0\n"
              f"ip route add default via {subnet}.254\n")
    with open(path, "wb") as out, open(base_image(), "rb") as base:
        shutil.copyfileobj(base, out)
        out.write(files_cpio({"vmlab.sh": (header + script).encode()}))


def qemu_argv(name: str, index: int, image: str, log: str, share: str, mem: int, tap: str = "") -> list[str]:
    """The qemu command line of VM `index` (run it inside the lab's namespace, where its tap is): serial
    console to `log`, NIC on `tap` (default tapN), this machine's / read-only as hostfs, `share` writable."""
    return [QEMU, *_accel(), "-M", "pc", "-m", str(mem), "-smp", "1", "-nodefaults", "-no-user-config",
            "-nographic", "-no-reboot", "-serial", f"file:{log}", "-kernel", kernel()[0], "-initrd", image,
            "-append", f"console=ttyS0 quiet panic=-1 vmlab.hostname={name}{_tmpkeep()}",
            "-netdev", f"tap,id=n0,ifname={tap or f'tap{index}'},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac=52:54:00:77:00:{index:02x},romfile=",
            "-virtfs", "local,path=/,mount_tag=hostfs,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={share},mount_tag=share,security_model=none"]


class VM:
    """One qemu process; its serial console goes to `log`, its /tmp/share is the `share` directory."""

    def __init__(self, lab: "Lab", name: str, index: int, script: str, mem: int) -> None:
        self.name, self.index = name, index
        self.log = os.path.join(lab.workdir, f"{name}.log")
        self.share = os.path.join(lab.workdir, f"{name}.share")
        os.makedirs(self.share)
        image = os.path.join(lab.workdir, f"{name}.img")
        write_image(image, index, script)
        tap = f"tap{index}"
        lab.run("ip", "tuntap", "add", "dev", tap, "mode", "tap")
        lab.run("ip", "link", "set", tap, "master", "br0", "up")
        argv = qemu_argv(name, index, image, self.log, self.share, mem, tap)
        self.started = time.monotonic()
        # setpriv and `ip netns exec` exec qemu: the process is qemu itself, opening the tap inside the lab
        # namespace, and killed if the thread that started it dies (a test run killed outright)
        guard = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
        self.process = subprocess.Popen([*guard, "ip", "netns", "exec", lab.netns, *argv], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def wait(self, timeout: float) -> int | None:
        """Wait for the VM to power off (killed after `timeout` s); the script's exit code, or None."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        found = re.search(r"VMLAB-EXIT rc=(\d+)", self.console())
        return int(found.group(1)) if found else None

    def console(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def qemu_output(self) -> str:
        return self.process.stdout.read().decode(errors="replace") if self.process.poll() is not None else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # only the qemu this VM started
            self.process.wait()


class Lab:
    """A throwaway namespace with bridge br0 ({SUBNET}.254/24) and up to `size` VMs on it, all removed on
    exit. Entering waits until `size` VM slots are free on this machine, so a lab's VMs run together."""

    def __init__(self, size: int = 1) -> None:
        self.netns = f"pnvm-{secrets.token_hex(3)}"
        self.size = size
        self.workdir = ""
        self.vms: list[VM] = []
        self._slots: list[int] = []

    def run(self, *argv: str) -> None:
        _sh("ip", "netns", "exec", self.netns, *argv)

    def __enter__(self) -> "Lab":
        self._slots = _slots(self.size)
        self.workdir = tempfile.mkdtemp(prefix=f"{self.netns}.")
        try:
            _sh("ip", "netns", "add", self.netns)
            self.run("ip", "link", "set", "lo", "up")
            self.run("ip", "link", "add", "br0", "type", "bridge")
            self.run("ip", "addr", "add", f"{SUBNET}.254/24", "dev", "br0")
            self.run("ip", "link", "set", "br0", "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def boot(self, script: str, name: str = "", mem: int = 512) -> VM:
        """Start a VM running `script`."""
        index = len(self.vms) + 1
        if index > self.size:
            raise ValueError(f"this lab has room for {self.size} VMs")
        vm = VM(self, name or f"vm{index}", index, script, mem)
        self.vms.append(vm)
        return vm

    def __exit__(self, *exc) -> None:
        for vm in self.vms:
            vm.kill()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)  # takes br0 and the taps
        if self.workdir and not os.environ.get("PYNET_VM_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        for fd in self._slots:
            os.close(fd)
        self._slots = []
