"""A command channel to a running VM through its writable share (a host directory the guest mounts).

The host drops a shell script into `cmd/ID.sh` (written aside and renamed in, so the guest never sees
half a script). The guest's loop (`guest_loop`, busybox sh) polls `cmd/`, moves each script to
`out/ID.sh` and runs it in the background, with its output in `out/ID.out` and, once it has ended,
its exit status in `out/ID.rc`. The host streams `out/ID.out` while it waits for `out/ID.rc`.
No sockets, no daemon in the guest but a shell loop, and nothing to set up on the host side.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Callable

POLL = 0.2  # seconds between the guest's looks into cmd/


def guest_loop(share: str = "/tmp/share", runner: str = "sh", interval: float = POLL) -> str:
    """The guest's side: a shell loop (never returns) running every script dropped into `share`/cmd
    with `runner SCRIPT` (e.g. "chroot /hostfs /bin/sh" to run it with this machine's programs)."""
    return f"""mkdir -p {share}/cmd {share}/out
while :; do
  for f in {share}/cmd/*.sh; do
    [ -e "$f" ] || continue
    id=${{f##*/}}; id=${{id%.sh}}
    mv "$f" {share}/out/$id.sh || continue
    ( {runner} {share}/out/$id.sh </dev/null >{share}/out/$id.out 2>&1
      echo $? >{share}/out/$id.tmp; mv {share}/out/$id.tmp {share}/out/$id.rc ) &
  done
  sleep {interval}
done
"""


class ChannelTimeout(TimeoutError):
    pass


class Channel:
    """The host's side of one VM's channel; `share` is the host directory the VM mounts."""

    def __init__(self, share: str) -> None:
        self.cmd, self.out = os.path.join(share, "cmd"), os.path.join(share, "out")

    def send(self, script: str) -> str:
        """Queue `script` (sh); its id."""
        os.makedirs(self.cmd, exist_ok=True)
        ident = f"{time.time_ns():x}-{secrets.token_hex(3)}"
        aside = os.path.join(self.cmd, f".{ident}.tmp")
        with open(aside, "w") as f:
            f.write(script)
        os.rename(aside, os.path.join(self.cmd, f"{ident}.sh"))
        return ident

    def done(self, ident: str) -> int | None:
        """The script's exit status, or None while it has not ended."""
        try:
            with open(os.path.join(self.out, f"{ident}.rc")) as f:
                return int(f.read().strip() or "255")
        except FileNotFoundError:
            return None

    def output(self, ident: str) -> str:
        try:
            with open(os.path.join(self.out, f"{ident}.out"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait(self, ident: str, timeout: float, stream: Callable[[str], None] | None = None,
             alive: Callable[[], bool] = lambda: True) -> tuple[int, str]:
        """(exit status, output) of script `ident`; `stream` gets the output as it comes. ChannelTimeout
        when it has not ended in `timeout` s, or when `alive()` says the VM is gone."""
        deadline, shown = time.monotonic() + timeout, 0
        while True:
            code = self.done(ident)
            text = self.output(ident)
            if stream and len(text) > shown:
                stream(text[shown:])
                shown = len(text)
            if code is not None:
                self.forget(ident)
                return code, text
            if time.monotonic() > deadline or not alive():
                raise ChannelTimeout(f"no answer in {timeout:.0f} s" if alive() else "the VM is not running")
            time.sleep(0.05)

    def run(self, script: str, timeout: float = 60, **kw) -> tuple[int, str]:
        return self.wait(self.send(script), timeout, **kw)

    def forget(self, ident: str) -> None:
        for suffix in ("sh", "out", "rc"):
            try:
                os.unlink(os.path.join(self.out, f"{ident}.{suffix}"))
            except FileNotFoundError:
                pass
