"""Container state: one directory per container under the run dir, found by name, id or id prefix.

    $PYNET_RUN_DIR (default /run/pynet)
      lock                          held (flock) while containers are created or removed
      containers/<id>/state.json    what `run` decided: name, command, network, holder, process
      containers/<id>/log           stdout and stderr of a detached container
      containers/<id>/exit          exit status of the command, once it ended
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from .namespaces import Proc, members

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class ContainerError(RuntimeError):
    """A request about containers that cannot be done (one line for people)."""


class NoSuchContainer(ContainerError):
    """No container has that name, id or id prefix."""


def run_dir() -> str:
    return os.environ.get("PYNET_RUN_DIR") or "/run/pynet"


@dataclass
class Container:
    id: str
    name: str
    command: list[str]
    network: str  # "none", "host", "container:<id>" or a CNI network's name
    created: str = ""
    rootfs: str = ""
    detached: bool = False
    ports: list[dict] = field(default_factory=list)
    ip: str = ""
    ifname: str = "eth0"
    holder: Proc | None = None
    process: Proc | None = None
    creator: Proc | None = None  # the `pynet run` that makes it, until the command is started
    result: dict | None = None  # the CNI result of the network attachment
    memory: int = 0  # bytes, 0 = no limit
    cpus: float = 0  # CPUs, 0 = no limit
    cgroups: list[str] = field(default_factory=list)  # directories made for the limits
    aliases: list[str] = field(default_factory=list)  # --network-alias
    dns: list[str] = field(default_factory=list)  # --dns
    dns_search: list[str] = field(default_factory=list)  # --dns-search
    add_hosts: list[str] = field(default_factory=list)  # --add-host NAME:IP

    @property
    def dir(self) -> str:
        return os.path.join(run_dir(), "containers", self.id)

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, "log")

    @property
    def exit_path(self) -> str:
        return os.path.join(self.dir, "exit")

    @property
    def cni_network(self) -> str | None:
        """The CNI network this container is attached to, if any."""
        return None if self.network in ("none", "host") or self.network.startswith("container:") else self.network

    def running(self) -> bool:
        """The command (or a process it left) still runs in the container."""
        if not (self.process and self.holder and self.holder.alive()):
            return False
        return self.process.alive() or bool(members(self.holder))

    def exit_code(self) -> int | None:
        try:
            with open(self.exit_path) as f:
                return int(f.read())
        except (FileNotFoundError, ValueError):
            return None

    def abandoned(self) -> bool:
        """Its `pynet run` died before starting the command (killed in the middle of the chain)."""
        return self.process is None and self.creator is not None and not self.creator.alive()

    def status(self) -> str:
        if self.running():
            return "running"
        if self.abandoned():
            return "abandoned"
        if self.holder is None:
            return "creating"
        if not self.holder.alive():
            return "dead"
        if self.process is None:
            return "created"
        code = self.exit_code()
        return f"exited ({code})" if code is not None else "exited"

    def addresses(self) -> list[str]:
        return [ip["address"] for ip in (self.result or {}).get("ips", [])]

    def save(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        _write(os.path.join(self.dir, "state.json"), json.dumps(asdict(self), indent=2) + "\n")

    def set_exit(self, code: int) -> None:
        """Record the command's exit status, under the runtime's lock: never into a directory that
        `rm` is removing (nothing once it is gone)."""
        with locked():
            if os.path.isdir(self.dir):
                _write(self.exit_path, f"{code}\n")

    def remove(self) -> None:
        """Forget the container: its directory goes (callers hold the runtime's lock)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self) -> dict:
        """Everything `inspect` shows."""
        data = asdict(self)
        data.update(status=self.status(), exit_code=self.exit_code(), addresses=self.addresses(),
                    log=self.log_path if self.detached else "", state_dir=self.dir)
        return data


def new(name: str, command: list[str], network: str, **options) -> Container:
    """A container not saved yet, with a fresh id (and a name made of it unless one is given)."""
    cid = secrets.token_hex(32)
    name = name or f"c-{cid[:8]}"
    if not NAME.match(name):
        raise ContainerError(f"invalid container name {name!r}: letters, digits, '_', '.', '-' (at most 63), "
                             f"starting with a letter or digit")
    return Container(id=cid, name=name, command=command, network=network,
                     created=datetime.now(timezone.utc).isoformat(timespec="microseconds"), **options)


def load(path: str) -> Container:
    with open(path) as f:
        data = json.load(f)
    for key in ("holder", "process", "creator"):
        data[key] = Proc.load(data.get(key))
    return Container(**data)


def all_containers() -> list[Container]:
    base = os.path.join(run_dir(), "containers")
    found = []
    for cid in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        try:
            found.append(load(os.path.join(base, cid, "state.json")))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            continue  # being created or removed right now
    return sorted(found, key=lambda c: c.created)


def find(ref: str) -> Container:
    """The container called `ref`, or with id `ref`, or the only one whose id starts with `ref`."""
    everything = all_containers()
    for c in everything:
        if ref in (c.name, c.id):
            return c
    matches = [c for c in everything if len(ref) >= 4 and c.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ContainerError(f"{ref!r} matches {len(matches)} containers: give more of the id")
    raise NoSuchContainer(f"no such container: {ref}")


@contextmanager
def locked():
    """Serialise the creation and removal of containers (names must stay unique)."""
    os.makedirs(run_dir(), exist_ok=True)
    with open(os.path.join(run_dir(), "lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
