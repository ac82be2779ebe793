"""The VM lab's pure parts: the per-VM cpio archive and the reading of the guest's JUnit report."""

from __future__ import annotations

import subprocess

from cni.lab.image import files_cpio
from tests.vm.runner import parse_junit


def test_files_cpio_unpacks_with_cpio(tmp_path):
    archive = files_cpio({"vmlab.sh": b"echo hi\n", "x": b"12345"})
    subprocess.run(["sh", "-c", "gzip -dc | cpio -id --quiet"], input=archive, cwd=tmp_path, check=True)
    assert (tmp_path / "vmlab.sh").read_bytes() == b"echo hi\n" and (tmp_path / "x").read_bytes() == b"12345"
    assert (tmp_path / "vmlab.sh").stat().st_mode & 0o777 == 0o755


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.vm.guest_x" name="test_ok[1.0.0]" time="1"/>
<testcase classname="tests.vm.guest_x" name="test_bad"><failure message="AssertionError: no">trace</failure>
<system-out>guest said</system-out></testcase>
<testcase classname="tests.vm.guest_x" name="test_skip"><skipped message="no eth0">why</skipped></testcase>
<testcase classname="tests.vm.guest_x" name="test_leak"/>
<testcase classname="tests.vm.guest_x" name="test_leak"><error message="test leaked: link x">tb</error></testcase>
</testsuite></testsuites>"""


def test_parse_junit():
    found = parse_junit(JUNIT)
    assert found["test_ok[1.0.0]"]["outcome"] == "passed"
    assert found["test_bad"]["outcome"] == "failed" and found["test_bad"]["message"] == "AssertionError: no"
    assert "trace" in found["test_bad"]["text"] and "guest said" in found["test_bad"]["text"]
    assert found["test_skip"] == {"outcome": "skipped", "message": "no eth0", "text": "why"}
    assert found["test_leak"]["outcome"] == "error" and "test leaked" in found["test_leak"]["text"]
