"""What the lab's modules share: the error a lab reports, and starting a lab process in a namespace."""

from __future__ import annotations

import subprocess


class LabError(Exception):
    pass


def spawn(ns: str, argv: list[str], log: str, env: dict) -> int:
    """Start `argv` in namespace `ns` in a session of its own (the lab kills its group), output to `log`."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out, stderr=out, env=env,
                                start_new_session=True)
    return proc.pid
