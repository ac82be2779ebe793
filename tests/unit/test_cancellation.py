"""An ADD whose caller gave up (the agent's deadline, a caller gone) never finishes behind its back:
the undo log stops it and rolls back; one that finished anyway is DELeted (cni.context.Cancellation)."""

from __future__ import annotations

import json

import pytest

from cni import context
from cni.context import Cancellation
from cni.kernel.undo import UndoLog
from cni.skel import Plugin, handle
from cni.spec import CNIError
from tests.unit import stub_commands

PLUGIN = Plugin(name="stub", commands="tests.unit.stub_commands", summary="unit-test stub", uses_netns=False)
ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/nonexistent/c1", "CNI_IFNAME": "eth0"}
CONFIG = json.dumps({"cniVersion": "1.0.0", "name": "net1", "type": "stub"}).encode()


@pytest.fixture(autouse=True)
def stub():
    stub_commands.calls.clear()
    stub_commands.during_add.clear()
    yield stub_commands
    stub_commands.calls.clear()
    stub_commands.during_add.clear()


def test_cancel_before_commit_wins_and_commit_before_cancel_wins():
    early = Cancellation()
    assert early.cancel() and early.cancelled and not early.commit() and early.cancel()
    late = Cancellation()
    assert late.commit() and not late.cancel() and not late.cancelled and late.commit()


def test_the_undo_log_stops_at_its_next_step_and_rolls_back():
    undone, cancel = [], Cancellation()
    token = context.using({}, cancel=cancel)
    try:
        with pytest.raises(CNIError) as e, UndoLog() as undo:
            undo.done("first", lambda: undone.append("first"))
            cancel.cancel()
            undo.done("second", lambda: undone.append("second"))
            undo.done("never reached", lambda: undone.append("third"))
    finally:
        context.reset(token)
    assert e.value.code == 11 and "rolled back" in e.value.msg and "second" in e.value.details
    assert undone == ["second", "first"]


def test_without_a_cancellation_the_undo_log_goes_on():
    with UndoLog() as undo:
        undo.done("first", lambda: None)
    assert not context.cancelled()


def test_an_add_that_finished_after_its_caller_gave_up_is_deleted(stub):
    cancel = Cancellation()
    stub.during_add.append(lambda request: cancel.cancel())  # the deadline passes as ADD ends
    response = handle(PLUGIN, ENV, CONFIG, cancel=cancel)
    assert response.exit_code == 1 and json.loads(response.stdout)["code"] == 11
    assert stub.calls == ["add", "delete"]


def test_an_add_whose_caller_still_waits_commits(stub):
    cancel = Cancellation()
    response = handle(PLUGIN, ENV, CONFIG, cancel=cancel)
    assert response.exit_code == 0 and json.loads(response.stdout)["ips"]
    assert stub.calls == ["add"] and not cancel.cancel()


def test_a_nested_request_sees_its_parents_cancellation_and_does_not_commit_it(stub):
    cancel, seen = Cancellation(), []

    def nested(request):  # as a plugin runs its IPAM plugin in-process
        if stub.calls == ["add"]:
            seen.append(handle(PLUGIN, ENV, CONFIG))
            cancel.cancel()
            seen.append(context.cancelled())
    stub.during_add.append(nested)
    response = handle(PLUGIN, ENV, CONFIG, cancel=cancel)
    assert seen[0].exit_code == 0 and seen[1] is True  # the nested ADD did not commit the parent's request
    assert json.loads(response.stdout)["code"] == 11 and stub.calls == ["add", "add", "delete"]


def test_relative_paths_resolve_against_the_callers_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert context.caller_path("data") == str(tmp_path / "data")  # a plugin process: its own directory
    token = context.using({}, cwd="/srv/runtime")
    try:
        assert context.caller_path("data") == "/srv/runtime/data"  # the agent: the caller's
        assert context.caller_path("../x") == "/srv/runtime/../x"
        assert context.caller_path("/abs/x") == "/abs/x"
    finally:
        context.reset(token)
    token = context.using({}, cwd="")
    try:
        with pytest.raises(CNIError) as e:
            context.caller_path("data")
        assert e.value.code == 5
    finally:
        context.reset(token)
