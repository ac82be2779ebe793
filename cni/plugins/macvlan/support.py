"""What a kernel without a link kind (macvlan, ipvlan) gets told. Whether it has it:
cni.kernel.links.kernel_knows (asked by trying)."""

from __future__ import annotations

import os

from ...spec import CNIError
from ...spec import errors


def no_support(kind: str) -> CNIError:
    """The error for a kernel that does not know the link kind (netlink answers EOPNOTSUPP)."""
    return CNIError(errors.KERNEL, f"this kernel has no {kind} support (module {kind})",
                    f"kernel {os.uname().release} cannot create {kind} links: load the module with "
                    f"`modprobe {kind}` or use a kernel built with CONFIG_{kind.upper()}")
