"""What a one-shot plugin process leaves to a child of its own, so that it can answer and exit at once.

Two of the kernel's costs come after the work is visible: a veth pair's deletion is announced
(RTM_DELLINK: unlisted, its addresses, routes and bridge port gone) 15-40 ms before the kernel's
reply, which waits for RCU grace periods that only free memory; and releasing a netfilter socket
after a change that deleted something waits for one too (10-15 ms). A process cannot exit while one
of its threads is in such a call, and its runtime waits for it to exit. The resident agent never
pays either (it returns at the announcement and keeps its sockets); a plugin that runs the request
in its own process (`mark_one_shot()`) hands them to a child that has none of the runtime's pipes.
"""

from __future__ import annotations

import os
import sys

_one_shot = False


def mark_one_shot() -> None:
    """This process exits after its one request (a plugin executable running it in-process)."""
    global _one_shot
    _one_shot = True


def one_shot() -> bool:
    return _one_shot


def fork_detached(keep=()) -> int | None:
    """fork(): in the child, stdin/stdout/stderr on /dev/null, so the runtime, which reads the
    plugin's pipes to their end, never waits for it, and every other file closed but those in
    `keep` (None: all kept). Returns 0 in the child, the child's pid in the parent, None if no child
    could be made (then the work is done here)."""
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            if keep is not None:
                low = 3
                for fd in sorted({null, *keep}):
                    os.closerange(low, fd)
                    low = fd + 1
                os.closerange(low, 1 << 20)
        except BaseException:  # noqa: BLE001 - a child never returns into the parent's code
            os._exit(70)
    return pid


def start_detached(run, keep=()) -> None:
    """Run `run()` (which never returns: it execs or exits) in a grandchild of this process, in a
    session of its own, with fork_detached()'s files: nothing is left for this process to reap, and
    the grandchild outlives it. Returns once the grandchild is made."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.setsid()
            child = fork_detached(keep)
            if child == 0:
                run()
            code = 0 if child else 70
        finally:
            os._exit(code)  # (the grandchild too, if run() returned or raised)
    os.waitpid(pid, 0)


def exit_now(code: int) -> None:
    """End a one-shot process once its answer is out: without the interpreter's teardown of every
    module it imported (10-30 ms; nothing of pynet's needs it), and, when it holds netfilter sockets,
    with their release left to a child that holds them until this process is gone."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: the exit status still tells
    libnft = sys.modules.get("cni.firewall.libnft")
    if libnft is not None and libnft.lingering():
        gone_r, gone_w = os.pipe()
        if fork_detached(keep=None) == 0:
            os.close(gone_w)
            os.read(gone_r, 1)  # EOF: the parent has exited; these are the sockets' last holders
            os._exit(0)
    os._exit(code)
