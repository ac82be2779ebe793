"""cni.kernel.undo.EveryStep: DEL and GC run every step whatever failed before it, and report the
failures together at the end."""

from __future__ import annotations

import pytest

from cni.kernel.undo import EveryStep
from cni.spec import CNIError


def failing(code: int, msg: str, details: str = ""):
    def step(*_):
        raise CNIError(code, msg, details)
    return step


def test_every_step_runs_and_the_failures_come_together():
    ran = []
    with pytest.raises(CNIError) as failed:
        with EveryStep() as steps, steps.guard("deleting eth0"):
            steps.run("removing the masquerade", failing(101, "nftables transaction failed", "EPERM"))
            steps.run("releasing the address", ran.append, "released")
            steps.run("another", failing(7, "plugin 'x' not found"))
            raise CNIError(5, "the veth deletion failed")  # what a context manager of the block raises
    assert ran == ["released"]
    error = failed.value
    assert error.code == 101  # the first failure's
    assert error.msg == ("3 steps failed (every step ran): removing the masquerade: nftables transaction failed; "
                         "another: plugin 'x' not found; deleting eth0: the veth deletion failed")
    assert error.details == "removing the masquerade: EPERM"


def test_one_failure_is_raised_as_it_is():
    original = CNIError(7, "plugin 'host-local' not found", "no executable host-local in CNI_PATH")

    def release():
        raise original

    with pytest.raises(CNIError) as failed:
        with EveryStep() as steps:
            steps.run("releasing the address", release)
            steps.run("deleting eth0", lambda: None)
    assert failed.value is original


def test_a_bug_in_a_step_does_not_stop_the_others():
    ran = []
    with pytest.raises(CNIError) as failed:
        with EveryStep() as steps:
            steps.run("removing the masquerade", lambda: {}["missing"])
            steps.run("releasing the address", failing(11, "busy"))
            steps.run("deleting eth0", ran.append, 1)
    assert ran == [1] and failed.value.code == 11
    assert "removing the masquerade: KeyError: 'missing'" in failed.value.msg


def test_nothing_failed_nothing_raised():
    with EveryStep() as steps:
        steps.run("a", lambda: None)
    assert steps.failures == []
