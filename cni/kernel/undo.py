"""The undo log: every change an ADD makes is recorded, so a failed ADD is undone in reverse order.

An ADD whose caller gave up (the agent's deadline passed, or the caller went away) stops at its next
step and rolls back. PYNET_FAIL_AT=N (tests only) makes the N-th recorded step fail right after it
is done, to prove that every prefix of an ADD rolls back cleanly.
"""

from __future__ import annotations

from ..context import cancelled, getenv
from ..spec import CNIError
from ..spec import errors


class InjectedFault(CNIError):
    """The failure PYNET_FAIL_AT asked for."""


class UndoLog:
    def __init__(self) -> None:
        self._steps: list[tuple[str, object]] = []
        self._fail_at = int(getenv("PYNET_FAIL_AT", "0") or 0)

    def done(self, what: str, undo) -> None:
        """Record that `what` was done and how to undo it (a callable taking no arguments)."""
        self._steps.append((what, undo))
        if len(self._steps) == self._fail_at:
            raise InjectedFault(errors.INTERNAL, f"injected fault after step {self._fail_at}: {what}")
        if cancelled():
            raise CNIError(errors.TRY_AGAIN_LATER, "the caller gave up waiting: the request is rolled back",
                           f"stopped after {what}")

    def rollback(self) -> list[str]:
        """Undo every step, newest first; returns what could not be undone (and goes on)."""
        failed = []
        while self._steps:
            what, undo = self._steps.pop()
            try:
                undo()
            except Exception as e:  # noqa: BLE001 - undo as much as possible
                failed.append(f"{what}: {e}")
        return failed

    def forget(self) -> None:
        """The ADD succeeded: keep everything."""
        self._steps.clear()

    def __enter__(self) -> "UndoLog":
        return self

    def __exit__(self, kind, error, trace) -> bool:
        if error is None:
            self.forget()
            return False
        failed = self.rollback()
        if failed:
            from ..log import logger

            logger().error("rollback left behind: %s", "; ".join(failed))
        return False
