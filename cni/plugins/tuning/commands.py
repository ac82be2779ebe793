"""tuning ADD/DEL/CHECK, as the reference `tuning` meta plugin (a chained plugin: it needs a prevResult).

ADD, inside CNI_NETNS only: writes each `sysctl` (net.* names only, "IFNAME" standing for
CNI_IFNAME), then sets the MAC, promiscuous mode, MTU and all-multicast mode of CNI_IFNAME, and
returns the prevResult with that interface's `mac` updated. Everything is validated first (names,
values, that each sysctl exists in the container's /proc/sys and is writable, that the interface
exists), and every change is in the undo log, so a failing ADD leaves the container as it was.

The values the link had before are saved in `<state dir>/<container id>-<ifname>.json`, where the
state dir is the config's `dataDir` if given, else `$PYNET_STATE_DIR/tuning` (default
`/var/lib/pynet/tuning`); the reference keeps the same file under /run/cni/tuning (older: /tmp).
The file holds `containerID`, `ifname`, `ifindex`, `netnsInode` (to recognise the same link
later) and the previous `mac`, `mtu`, `promisc`, `allmulti` of the knobs ADD changed. A second ADD
for the same link keeps the oldest saved values. DEL restores them if the namespace and the very
same interface still exist, then removes the file; it succeeds when the namespace, the interface or
the file is gone. Sysctls are not restored by DEL: they live and die with the namespace.

Differences from the reference, on purpose: `"promisc": false` turns promiscuous mode off (the
reference leaves it alone but its CHECK wants it off); the result's `mac` is written as the kernel
spells it (aa:bb:...) and only for the interface in the container (name CNI_IFNAME and sandbox
CNI_NETNS); DEL removes the saved file even when the namespace is gone; a sysctl missing from the
container's /proc/sys is code 7 before anything changes.
"""

from __future__ import annotations

import json
import os
import stat

from ...files import read_regular, write_atomic
from ...kernel.links import (IFF_ALLMULTI, IFF_PROMISC, link_index, netlink, set_flag, set_mac, set_mtu, summary,
                             write_sysctl)
from ...kernel.netns import NetnsGone, entered
from ...kernel.undo import UndoLog
from ...spec import CNIError, Request, Result
from ...spec import errors
from ...spec.errors import invalid_config
from ...spec.mac import normalise_mac
from ...spec.record import replace
from .config import Sysctl, TuningConf, parse, state_dir

KNOBS = ("mac", "mtu", "promisc", "allmulti")
MISSING = object()  # a sysctl CHECK cannot find


# ---- the namespace's sysctls -----------------------------------------------------------------

def _read_sysctls(netns: str, sysctls: tuple[Sysctl, ...], missing_ok: bool = False) -> dict:
    """path -> current value (None: write-only; MISSING: not there, when `missing_ok`), read inside `netns`.

    Missing, not a file, or read-only is a code-7 error naming the key (unless `missing_ok`)."""
    values: dict[str, str | None] = {}
    with entered(netns):  # /proc/sys/net shows the namespace of the thread that opens it
        for sysctl in sysctls:
            full = "/proc/sys/" + sysctl.path
            try:
                mode = os.stat(full).st_mode
            except (FileNotFoundError, NotADirectoryError):
                if missing_ok:
                    values[sysctl.path] = MISSING
                    continue
                raise invalid_config(f"unknown sysctl {sysctl.key!r}",
                                     f"{full} does not exist in the container's network namespace") from None
            if not stat.S_ISREG(mode):
                raise invalid_config(f"invalid sysctl {sysctl.key!r}", f"{full} is a directory, not a sysctl")
            if not mode & 0o200:
                raise invalid_config(f"sysctl {sysctl.key!r} is read-only", f"{full} cannot be written")
            try:
                with open(full) as f:
                    values[sysctl.path] = f.read().rstrip("\n")
            except PermissionError:  # write-only (e.g. net.ipv4.route.flush): nothing to restore
                values[sysctl.path] = None
            except OSError as e:
                raise CNIError(errors.KERNEL, f"cannot read sysctl {sysctl.key}", f"{full}: {e.strerror}") from None
    return values


def _same_value(a: str, b: str) -> bool:
    """Sysctl values compared as the kernel prints them: multi-value ones are tab-separated."""
    return a.split() == b.split()


# ---- the interface ---------------------------------------------------------------------------

def _link_state(ipr, index: int) -> dict:
    found = summary(ipr, index)
    return {"mac": found.mac or "", "mtu": found.mtu, "promisc": bool(found.flags & IFF_PROMISC),
            "allmulti": bool(found.flags & IFF_ALLMULTI)}


def _wanted(conf: TuningConf) -> dict:
    """The knobs this configuration sets, with their values."""
    wanted = {}
    if conf.mac:
        wanted["mac"] = conf.mac
    if conf.mtu:
        wanted["mtu"] = conf.mtu
    if conf.promisc is not None:
        wanted["promisc"] = conf.promisc
    if conf.allmulti is not None:
        wanted["allmulti"] = conf.allmulti
    return wanted


def _set(ipr, index: int, knob: str, value) -> None:
    if knob == "mac":
        set_mac(ipr, index, value)
    elif knob == "mtu":
        set_mtu(ipr, index, value)
    else:
        bit = IFF_PROMISC if knob == "promisc" else IFF_ALLMULTI
        set_flag(ipr, index, bit, value)


# ---- the saved values ------------------------------------------------------------------------

def _state_file(conf: TuningConf, request: Request) -> str:
    return os.path.join(conf.state_dir, f"{request.container_id}-{request.ifname}.json")


def _read_state(path: str) -> dict | None:
    try:
        data = json.loads(read_regular(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        from ...log import logger

        logger().warning("ignoring unreadable tuning state %s: %s", path, e)
        return {}
    return data if isinstance(data, dict) else {}


def _write_file(path: str, data: bytes) -> None:
    """Write `data` to `path` atomically (a temporary file renamed into place)."""
    try:
        write_atomic(path, data, prefix=".tuning-")
    except OSError as e:
        raise CNIError(errors.IO_FAILURE, "cannot save the interface's previous settings",
                       f"{path}: {e.strerror}") from None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _netns_inode(netns: str) -> int:
    return os.stat(netns).st_ino


def _save_state(path: str, request: Request, index: int, before: dict, wanted: dict, undo: UndoLog) -> None:
    """Save the previous values of the knobs ADD changes; an earlier ADD's saved values win."""
    try:
        old_bytes = read_regular(path)
    except FileNotFoundError:
        old_bytes = None
    except OSError as e:
        raise CNIError(errors.IO_FAILURE, "cannot read the saved settings", f"{path}: {e.strerror}") from None
    identity = {"containerID": request.container_id, "ifname": request.ifname, "ifindex": index,
                "netnsInode": _netns_inode(request.netns)}
    state = {**identity, **{knob: before[knob] for knob in wanted}}
    if old_bytes is not None:
        try:
            old = json.loads(old_bytes)
        except ValueError:
            old = None
        if isinstance(old, dict) and all(old.get(k) == v for k, v in identity.items()):
            state.update({knob: old[knob] for knob in KNOBS if knob in old})
    _write_file(path, (json.dumps(state, indent=1) + "\n").encode())
    if old_bytes is None:
        undo.done(f"saved settings {path}", lambda: _unlink(path))
    else:
        undo.done(f"saved settings {path}", lambda: _write_file(path, old_bytes))


# ---- commands --------------------------------------------------------------------------------

def _interface(ipr, request: Request) -> int:
    index = link_index(ipr, request.ifname)
    if index is None:
        raise invalid_config(f"no interface {request.ifname} in the container",
                             f"{request.netns} has no link called {request.ifname}: tuning changes an interface "
                             "an earlier plugin of the chain created")
    return index


def _with_mac(result: Result, request: Request, mac: str) -> Result:
    """The result with the container interface's mac changed (name CNI_IFNAME, sandbox CNI_NETNS)."""
    mine = [i for i in result.interfaces if i.name == request.ifname and i.sandbox == request.netns]
    if not mine:  # the same namespace written another way (/proc/PID/ns/net)
        mine = [i for i in result.interfaces if i.name == request.ifname and i.sandbox]
    interfaces = tuple(replace(i, mac=mac) if i in mine else i for i in result.interfaces)
    return replace(result, interfaces=interfaces)


def add(request: Request) -> Result:
    conf = parse(request)
    result = request.prev_result(chained=True)
    wanted = _wanted(conf)
    with netlink(request.netns) as ipr, UndoLog() as undo:
        # everything that can be refused is refused before the first change
        index = _interface(ipr, request) if wanted else None
        before_sysctls = _read_sysctls(request.netns, conf.sysctls)
        before = _link_state(ipr, index) if wanted else {}
        for sysctl in conf.sysctls:
            write_sysctl(sysctl.path, sysctl.value, request.netns)
            old = before_sysctls[sysctl.path]
            undo.done(f"sysctl {sysctl.key}",
                      (lambda s=sysctl, v=old: write_sysctl(s.path, v, request.netns)) if old is not None
                      else (lambda: None))
        if wanted:
            _save_state(_state_file(conf, request), request, index, before, wanted, undo)
        for knob in ("mac", "promisc", "mtu", "allmulti"):  # the reference's order
            if knob in wanted:
                _set(ipr, index, knob, wanted[knob])
                undo.done(f"{knob} of {request.ifname}", lambda k=knob: _set(ipr, index, k, before[k]))
        if conf.mac:
            result = _with_mac(result, request, _link_state(ipr, index)["mac"])
    return result


def delete(request: Request) -> None:
    path = _state_file(TuningConf(state_dir=state_dir(request)), request)
    state = _read_state(path)
    if state is None:
        return
    if state and request.netns:
        try:
            _restore(request, state)
        except (NetnsGone, FileNotFoundError):
            pass  # the namespace, and the interface with it, is gone
    _unlink(path)


def _restore(request: Request, state: dict) -> None:
    from ...log import logger

    with netlink(request.netns) as ipr:
        index = link_index(ipr, request.ifname)
        if index is None or index != state.get("ifindex") or _netns_inode(request.netns) != state.get("netnsInode"):
            return  # not the link ADD changed: it was removed (and maybe another made since)
        for knob in ("mtu", "mac", "promisc", "allmulti"):  # the reference's order
            value = state.get(knob)
            if value is None:
                continue
            try:
                _set(ipr, index, knob, value)
            except Exception as e:  # noqa: BLE001 - restore what can be restored; DEL must not stick
                logger().warning("tuning DEL could not restore %s of %s to %r: %s", knob, request.ifname, value, e)


def _show(value) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def check(request: Request) -> None:
    conf = parse(request)
    request.prev_result(chained=True)
    problems = []
    current = _read_sysctls(request.netns, conf.sysctls, missing_ok=True)
    for sysctl in conf.sysctls:
        value = current[sysctl.path]
        if value is None:
            continue  # write-only: nothing to compare
        if value is MISSING:
            problems.append(f"sysctl {sysctl.key} does not exist in the container")
        elif not _same_value(value, sysctl.value):
            problems.append(f"sysctl {sysctl.key} is {value!r}, configured {sysctl.value!r}")
    wanted = _wanted(conf)
    if wanted:
        with netlink(request.netns) as ipr:
            index = link_index(ipr, request.ifname)
            if index is None:
                problems.append(f"interface {request.ifname} is missing")
            else:
                have = _link_state(ipr, index)
                for knob, value in wanted.items():
                    ok = normalise_mac(have[knob]) == value if knob == "mac" else have[knob] == value
                    if not ok:
                        problems.append(f"{knob} of {request.ifname} is {_show(have[knob])}, "
                                        f"configured {_show(value)}")
    if problems:
        raise CNIError(errors.CHECK_FAILED, "the container's tuning is not as ADD left it", "; ".join(problems))
