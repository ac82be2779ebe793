"""Guest test files (guest_*.py) run inside a VM (runner.py); on this machine each of their tests is
one item reporting the guest's outcome, with the guest's traceback and output on failure. Skipped,
with the reason, when qemu, a kernel with its modules or busybox-static is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cni.lab.image import missing

from . import runner

IN_VM = os.environ.get("PYNET_IN_VM") == "1"


class GuestFailure(Exception):
    pass


def pytest_collect_file(file_path: Path, parent):
    if not IN_VM and file_path.name.startswith("guest_") and file_path.suffix == ".py":
        return GuestFile.from_parent(parent, path=file_path)
    return None


def pytest_pycollect_makemodule(module_path: Path, parent):
    """A guest file named on the command line is not also imported as a module on this machine."""
    if not IN_VM and module_path.name.startswith("guest_"):
        return NotHere.from_parent(parent, path=module_path)
    return None


class NotHere(pytest.File):
    def collect(self):
        return []


class GuestFile(pytest.File):
    def collect(self):
        listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                 "-p", "no:xdist", str(self.path)], capture_output=True, text=True, cwd=runner.ROOT,
                                env={**os.environ, "PYNET_IN_VM": "1"})
        names = [line.split("::", 1)[1] for line in listed.stdout.splitlines() if "::" in line]
        if not names:
            raise GuestFailure(f"cannot list the tests of {self.path}:\n{listed.stdout}{listed.stderr}")
        for name in names:
            yield GuestTest.from_parent(self, name=name)


class GuestTest(pytest.Item):
    """One test of a guest file; its outcome comes from the VM that ran the whole file."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.add_marker(pytest.mark.root)

    def setup(self) -> None:
        reason = missing()
        if reason:
            pytest.skip(f"no VM: {reason}")

    def runtest(self) -> None:
        selected = sorted({item.path for item in self.session.items if isinstance(item, GuestTest)})
        report = runner.report_for(self.path, selected)
        self.add_report_section("call", "vm", f"{self.path.name}: VM ran {report['seconds']} s, "
                                f"script exit {report['rc']}")
        result = report["tests"].get(self.name)
        if result is None:
            raise GuestFailure(f"no result from the VM for {self.name} (VM script exit {report['rc']})\n"
                               f"--- guest pytest output ---\n{report['pytest']}\n"
                               f"--- VM console (end) ---\n{report['console']}")
        if result["outcome"] == "skipped":
            pytest.skip(f"in the VM: {result['message']}")
        if result["outcome"] != "passed":
            raise GuestFailure(f"{result['outcome']} in the VM: {result['message']}\n{result['text']}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, GuestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::{self.name} (in a VM)"
