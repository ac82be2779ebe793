"""The undo log: every change an ADD makes is recorded, so a failed ADD is undone in reverse order.
Its counterpart for DEL and GC, `EveryStep`: every step runs, whatever failed before it.

An ADD whose caller gave up (the agent's deadline passed, or the caller went away) stops at its next
step and rolls back. PYNET_FAIL_AT=N (tests only) makes the N-th recorded step fail right after it
is done, to prove that every prefix of an ADD rolls back cleanly.
"""

from __future__ import annotations

from contextlib import contextmanager

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


class EveryStep:
    """Run every step of a DEL or GC even when an earlier one fails; at the end of the with-block,
    the failures are raised together: the failure itself if there was one, else one CNI error
    naming each step that failed (with the first failure's code).

        with EveryStep() as steps, steps.guard("deleting the veth"), deleting_link(...):
            steps.run("removing the masquerade", firewall.remove, owner, MASQUERADE)
            steps.run("releasing the address", delegate.call, request, "DEL")
    """

    def __init__(self) -> None:
        self.failures: list[tuple[str, Exception]] = []

    @contextmanager
    def guard(self, what: str):
        """A step: a failure inside is recorded, and the with-block goes on after it."""
        try:
            yield
        except Exception as e:  # noqa: BLE001 - reported at the end, with the others
            self.failures.append((what, e))

    def run(self, what: str, step, *args) -> None:
        with self.guard(what):
            step(*args)

    def __enter__(self) -> "EveryStep":
        return self

    def __exit__(self, kind, error, trace) -> bool:
        if isinstance(error, Exception):
            self.failures.append(("the rest", error))
        elif error is not None:
            return False  # KeyboardInterrupt, SystemExit: not a failed step
        if len(self.failures) == 1:
            raise self.failures[0][1]
        if self.failures:
            raise _together(self.failures) from self.failures[0][1]
        return False


def _together(failures: list[tuple[str, Exception]]) -> CNIError:
    from ..log import logger

    code = next((e.code for _, e in failures if isinstance(e, CNIError)), errors.INTERNAL)
    for what, e in failures:
        if not isinstance(e, CNIError):
            logger().error("%s failed", what, exc_info=e)
    parts = [f"{what}: {e.msg if isinstance(e, CNIError) else f'{type(e).__name__}: {e}'}" for what, e in failures]
    details = [f"{what}: {e.details}" for what, e in failures if isinstance(e, CNIError) and e.details]
    return CNIError(code, f"{len(failures)} steps failed (every step ran): " + "; ".join(parts), "; ".join(details))
