"""cni.invoke: finding and running a plugin executable; its failures are CNI errors that say what failed."""

from __future__ import annotations

import pytest

from cni import context, invoke
from cni.spec.errors import CNIError


def test_a_missing_executable_is_named():
    with pytest.raises(CNIError) as raised:
        invoke.execute("/nonexistent/host-local", {"CNI_COMMAND": "VERSION"}, b"{}")
    assert (raised.value.code, raised.value.msg) == (5, "cannot run /nonexistent/host-local")
    assert raised.value.details == "No such file or directory"


def test_a_working_directory_that_is_gone_is_named_not_the_executable(tmp_path):
    gone = str(tmp_path / "gone")
    token = context.using({}, gone)
    try:
        with pytest.raises(CNIError) as raised:
            invoke.execute("/bin/true", {"CNI_COMMAND": "VERSION"}, b"{}")
    finally:
        context.reset(token)
    assert raised.value.details == f"{gone}: No such file or directory"


def test_the_callers_working_directory_is_the_plugins(tmp_path):
    token = context.using({}, str(tmp_path))
    try:
        done = invoke.execute("/bin/pwd", {}, b"", capture_stderr=True)
    finally:
        context.reset(token)
    assert done.stdout.strip() == str(tmp_path)
