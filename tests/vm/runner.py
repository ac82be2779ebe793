"""Run a guest test file (tests/vm/guest_*.py) with pytest inside one VM and read back each test's outcome.

Python under TCG is slow, so one VM boot runs a whole file. The first time a guest test needs its
report, every selected guest file is started in a thread of its own (the VM lab lets 2 run at once).
Under pytest-xdist every worker may need the same file: whoever takes its lock in the run's
directory ($PYNET_VM_RUN, made by tests/conftest.py) runs it, and the others wait and read its report.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from cni.lab.vm import Lab

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = float(os.environ.get("PYNET_VM_TIMEOUT", "480"))
_started: dict[Path, threading.Thread] = {}
_labs: set[Lab] = set()  # running now, in any thread: stopped if the run is interrupted
_stopping = threading.Event()


def guest_command(path: Path) -> str:
    """The VM's script: pytest on `path` in a chroot of this machine's /, results to /tmp/share."""
    relative = path.relative_to(ROOT)
    return (f"hostrun {ROOT} env PYNET_IN_VM=1 PYTHONDONTWRITEBYTECODE=1 {sys.executable} -m pytest -p no:cacheprovider"
            f" -p no:xdist -q -rA --junitxml=/tmp/share/junit.xml {relative} > /tmp/share/pytest.out 2>&1\n"
            "echo PYTEST-EXIT rc=$?\n")


def parse_junit(text: str) -> dict[str, dict]:
    """Test name -> outcome (passed, failed, error, skipped), message and text (traceback, output)."""
    found = {}
    for case in ET.fromstring(text).iter("testcase"):
        outcome, message, detail = "passed", "", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message, detail = child.get("message", ""), child.text or ""
            elif child.tag in ("system-out", "system-err") and child.text:
                detail += f"\n--- guest {child.tag} ---\n{child.text}"
        if outcome == "error" and case.get("name") in found:  # a teardown error after a verdict
            found[case.get("name")]["outcome"] = "error"
            found[case.get("name")]["text"] += f"\n--- teardown error ---\n{message}\n{detail}"
            continue
        found[case.get("name")] = {"outcome": outcome, "message": message, "text": detail}
    return found


def run_in_vm(path: Path) -> dict:
    """Boot one VM for the file; {"tests": {...}, "console": ..., "pytest": ..., "seconds": ...}."""
    started = time.monotonic()
    with Lab() as lab:
        _labs.add(lab)
        try:
            if _stopping.is_set():
                raise KeyboardInterrupt("the test run was interrupted")
            vm = lab.boot(guest_command(path), name=path.stem.replace("_", "-")[:20])
            rc = vm.wait(TIMEOUT)
        finally:
            _labs.discard(lab)
        console = vm.console()
        junit = Path(vm.share, "junit.xml")
        output = Path(vm.share, "pytest.out")
        report = {"rc": rc, "console": console[-4000:] or vm.qemu_output()[-2000:],
                  "pytest": output.read_text(errors="replace")[-6000:] if output.exists() else "",
                  "tests": parse_junit(junit.read_text()) if junit.exists() else {},
                  "seconds": round(time.monotonic() - started, 1)}
    return report


def _run_dir() -> Path:
    path = os.environ.get("PYNET_VM_RUN")
    if not path:  # not started through tests/conftest.py: one directory for this process
        path = os.environ["PYNET_VM_RUN"] = tempfile.mkdtemp(prefix="pynet-vm-run.")
    return Path(path)


def _run_locked(path: Path, blocking: bool) -> dict | None:
    """Run `path` unless another process is at it (blocking: wait for it); its report, or None."""
    out = _run_dir() / f"{path.stem}.json"
    with open(_run_dir() / f"{path.stem}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return None
        if not out.exists():
            report = run_in_vm(path)
            out.with_suffix(".tmp").write_text(json.dumps(report))
            out.with_suffix(".tmp").rename(out)
        return json.loads(out.read_text())


def report_for(path: Path, selected: list[Path]) -> dict:
    """The report of guest file `path`; the first call starts every `selected` file nobody runs yet.
    (Threads, not daemons: an interrupted run still waits for its VMs to be stopped and removed.)"""
    for file in [path, *selected]:
        if file not in _started:
            _started[file] = threading.Thread(target=_run_locked, args=(file, False), name=f"vm {file.name}")
            _started[file].start()
    try:
        _started[path].join()
    except BaseException:  # interrupted: stop the VMs, so their threads clean up and end
        _stopping.set()
        for lab in list(_labs):
            for vm in lab.vms:
                vm.kill()
        raise
    return _run_locked(path, blocking=True)  # done by now, or by another worker; else (it failed) run here
