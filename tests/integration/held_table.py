"""A firewall that refuses pynet's changes, honestly: pynet's nft table in a simulated host taken
over by the test process with nft's `owner` flag. The kernel then refuses every other process's
change to it (EPERM) while reading still works, and drops the table when its owner's socket closes."""

from __future__ import annotations

import ctypes
from contextlib import contextmanager

from cni.kernel.netns import entered


@contextmanager
def table_held_by_another_process(ns, table: str = "inet pynet"):
    """While the with-block runs, `table` in namespace `ns` (its content kept) belongs to this
    process; afterwards it is gone."""
    listing = ns.run("nft", "list", "table", *table.split()).stdout
    head = f"table {table} {{\n"
    assert listing.startswith(head), listing
    lib = ctypes.CDLL("libnftables.so.1")
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    with entered(ns.path):  # the ctx's netlink socket belongs to the namespace it is opened in
        ctx = lib.nft_ctx_new(0)
        script = f"delete table {table}\n" + head + "\tflags owner\n" + listing[len(head):]
        assert lib.nft_run_cmd_from_buffer(ctx, script.encode()) == 0
    try:
        assert "flags owner" in ns.run("nft", "list", "table", *table.split()).stdout
        yield
    finally:
        lib.nft_ctx_free(ctx)
