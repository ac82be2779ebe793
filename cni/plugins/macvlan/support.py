"""Whether the running kernel can make a link kind at all (macvlan, ipvlan). No netlink."""

from __future__ import annotations

import os

from ...spec import CNIError
from ...spec import errors


def kernel_has(module: str) -> bool:
    """True if `module` is loaded or built in, or can be loaded from /lib/modules of this kernel."""
    if os.path.isdir(f"/sys/module/{module}"):
        return True
    moddir = f"/lib/modules/{os.uname().release}"
    for index in ("modules.builtin", "modules.dep"):
        try:
            with open(os.path.join(moddir, index)) as f:
                if any(os.path.basename(line.split(":")[0]).split(".ko")[0] == module for line in f):
                    return True
        except OSError:
            continue
    return False


def no_support(kind: str) -> CNIError:
    """The error for a kernel that does not know the link kind (netlink answers EOPNOTSUPP)."""
    return CNIError(errors.KERNEL, f"this kernel has no {kind} support (module {kind})",
                    f"kernel {os.uname().release} cannot create {kind} links: load the module with "
                    f"`modprobe {kind}` or use a kernel built with CONFIG_{kind.upper()}")
