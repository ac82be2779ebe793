"""nftables through libnftables (the library behind the `nft` command), without a process per call.

`run(script, json_output)` does what `nft [-j] -f -` does with `script`; when the library cannot be
loaded, it runs the `nft` command instead. Each call has a context of its own, opened in the
calling thread's network namespace, so concurrent calls (agent threads) do not share state.
"""

from __future__ import annotations

import ctypes

OUTPUT_JSON = 1 << 4  # NFT_CTX_OUTPUT_JSON

_lib = None


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
    ctx = lib.nft_ctx_new(0)
    if not ctx:
        return _run_command(script, json_output)
    try:
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        if json_output:
            lib.nft_ctx_output_set_flags(ctx, OUTPUT_JSON)
        status = lib.nft_run_cmd_from_buffer(ctx, script.encode())
        out = lib.nft_ctx_get_output_buffer(ctx) or b""
        err = lib.nft_ctx_get_error_buffer(ctx) or b""
        return (1 if status else 0), out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        lib.nft_ctx_free(ctx)


def _run_command(script: str, json_output: bool) -> tuple[int, str, str]:
    import shutil
    import subprocess  # only without libnftables: not at import time

    nft = shutil.which("nft") or "/usr/sbin/nft"
    argv = [nft, "-j", "-f", "-"] if json_output else [nft, "-f", "-"]
    done = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout, done.stderr
