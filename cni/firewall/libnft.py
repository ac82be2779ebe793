"""nftables through libnftables (the library behind the `nft` command), without a process per call.

`run(script, json_output)` does what `nft [-j] -f -` does with `script`; when the library cannot be
loaded, it runs the `nft` command instead; when the kernel has no nf_tables netlink (module not
loaded and not loadable), it raises `Unavailable` before libnftables, which would end the whole
process with exit(3), is called. Each call has a context of its own, opened in the
calling thread's network namespace, so concurrent calls (agent threads) do not share state.

A one-shot plugin process leaves its handles open: a child releases them after it exits
(cni.kernel.background). A resident process (the agent) calls `keep_contexts()`: libnftables contexts of its own network
namespace are then kept open and reused, one thread at a time. Closing a
netfilter socket after a change that deleted something waits for an RCU grace period (the kernel
flushes its deferred frees on every netfilter socket release: 10-15 ms here), which a kept context
never pays; libnftables checks its cache against the ruleset's generation on every run, so a kept
context sees others' changes.
"""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager

from ..kernel import background

OUTPUT_JSON = 1 << 4  # NFT_CTX_OUTPUT_JSON

_lib = None
_kept: dict[str, list] = {}  # idle handles of the home namespace, by kind (a resident process's)
_kept_lock = threading.Lock()
_home: tuple[int, int] | None = None  # (pid, netns inode) that keep_contexts() was called for
_closers: dict = {}  # kind -> how a handle of that kind is closed
_lingering: list = []  # a one-shot process's handles, left open for its exit (see cni.kernel.background)
KEEP_AT_MOST = 8  # of each kind


class Unavailable(OSError):
    """The kernel refuses netfilter's netlink protocol (no nf_tables/nfnetlink): nothing to list or remove."""

    @classmethod
    def of(cls, refused: OSError) -> Unavailable:
        return cls(refused.errno, f"the kernel has no nftables netlink ({refused.strerror})")


NETLINK_NETFILTER = 12


def _netns() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def keep_contexts(keep: bool = True) -> None:
    """Keep netfilter handles opened in this process's current network namespace for reuse; with
    `keep` False, close the kept ones and keep no more."""
    global _home
    with _kept_lock:
        for kind, handles in _kept.items():  # (a forked child closes its copies of its parent's)
            for handle in handles:
                _closers[kind](handle)
        _kept.clear()
        _home = (os.getpid(), _netns()) if keep else None


@contextmanager
def kept(kind: str, opener, closer):
    """A handle of `kind` (a libnftables context, a netfilter socket): a kept one when this thread is
    in the home namespace of a process that keeps them, else a new one; closed after use unless it
    is kept. A handle whose use raised is closed (it may be in the middle of something)."""
    keep = _home is not None and _home == (os.getpid(), _netns())
    handle = None
    _closers[kind] = closer
    if keep:
        with _kept_lock:
            idle = _kept.setdefault(kind, [])
            handle = idle.pop() if idle else None
    if handle is None:
        handle = opener()
    try:
        yield handle
    except BaseException:
        closer(handle)
        raise
    if keep:
        with _kept_lock:
            if len(_kept[kind]) < KEEP_AT_MOST:
                _kept[kind].append(handle)
                return
    if background.one_shot():
        _lingering.append(handle)  # closed by a child after this process exits (background.exit_now)
        return
    closer(handle)


def lingering() -> bool:
    """Whether this one-shot process holds netfilter handles it did not close."""
    return bool(_lingering)


def _library():
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libnftables.so.1")
        except OSError:
            _lib = False
        else:
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
                getattr(lib, name).argtypes = [ctypes.c_void_p]
            for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
                getattr(lib, name).argtypes = [ctypes.c_void_p]
                getattr(lib, name).restype = ctypes.c_char_p
            lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            _lib = lib
    return _lib or None


def run(script: str, json_output: bool = False) -> tuple[int, str, str]:
    """(exit status, output, error text) of `script` as one nft transaction."""
    lib = _library()
    if lib is None:
        return _run_command(script, json_output)
    try:
        with kept("libnftables", _new_context, lib.nft_ctx_free) as ctx:
            lib.nft_ctx_output_set_flags(ctx, OUTPUT_JSON if json_output else 0)
            status = lib.nft_run_cmd_from_buffer(ctx, script.encode())
            out = lib.nft_ctx_get_output_buffer(ctx) or b""  # (reading a buffer empties it)
            err = lib.nft_ctx_get_error_buffer(ctx) or b""
    except MemoryError:  # no context could be made
        return _run_command(script, json_output)
    return (1 if status else 0), out.decode(errors="replace"), err.decode(errors="replace")


def checked(script: str, json_output: bool = False) -> str:
    """The output of `script`; a CNIError when nftables is missing (code 50) or the transaction failed."""
    from ..spec import errors
    from ..spec.errors import CNIError

    try:
        status, out, err = run(script, json_output)
    except FileNotFoundError:
        raise CNIError(errors.NOT_AVAILABLE, "nftables is not installed",
                       "install the nftables package, or set \"firewallBackend\": \"none\"") from None
    except Unavailable as e:
        raise CNIError(errors.NOT_AVAILABLE, str(e.strerror),
                       "load the nf_tables module (modprobe nf_tables), or set \"firewallBackend\"") from None
    if status != 0:
        raise CNIError(errors.KERNEL, "nftables transaction failed", err.strip()[:500])
    return out


def _new_context() -> int:
    _probe_kernel()
    lib = _library()
    ctx = lib.nft_ctx_new(0)
    if not ctx:
        raise MemoryError("nft_ctx_new failed")
    lib.nft_ctx_buffer_output(ctx)
    lib.nft_ctx_buffer_error(ctx)
    return ctx


def _probe_kernel() -> None:
    """Open and close a netfilter netlink socket (which also makes the kernel load the module if it
    can): libnftables calls exit() when it cannot, so it is asked only after this succeeded."""
    import _socket  # (not `socket`: its imports cost more than the probe)

    try:
        _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_NETFILTER).close()
    except OSError as e:
        raise Unavailable.of(e) from None


def _run_command(script: str, json_output: bool) -> tuple[int, str, str]:
    import shutil
    import subprocess  # only without libnftables: not at import time

    nft = shutil.which("nft") or "/usr/sbin/nft"
    argv = [nft, "-j", "-f", "-"] if json_output else [nft, "-f", "-"]
    done = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout, done.stderr
