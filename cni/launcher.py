"""pynet's plugin executables: the launcher `pynet plugins install` writes, and telling pynet's own
executables (that launcher, or the `pynet-<type>` console script) from another plugin of the same
name in CNI_PATH (the reference's, a distribution's, a patched one). Standard library only."""

from __future__ import annotations

import os
import sys

# -S: no site-packages at start (saves ~3 ms per call); the plugin adds them only if it runs
# in-process (cni.skel), not when it hands the request to the agent. cni.agent.client imports
# the plugin's module only when it runs the request itself (saves ~2.5 ms per call).
LAUNCHER = """#!{python} -IS
# pynet {name} plugin, installed by `pynet plugins install`
import sys
sys.path.insert(0, {root!r})
from cni.agent.client import main
sys.exit(main({name!r}, {module!r}))
"""
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_seen: dict[str, tuple[tuple, bool]] = {}  # path -> (its stat identity, is_own); a resident agent asks often


def launcher(name: str, module: str) -> str:
    """The launcher of plugin `name` (whose Plugin is in `module`) for this installation."""
    return LAUNCHER.format(python=sys.executable, name=name, module=module, root=ROOT)


def is_own(path: str, name: str, module: str) -> bool:
    """Is the executable at `path` this installation's plugin `name`: its launcher, or its console
    script (copied or linked)? Anything else, a pynet of another installation included, is not."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    identity = (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns)
    known = _seen.get(path)
    if known is not None and known[0] == identity:
        return known[1]
    own = _reads_as_own(path, name, module)
    _seen[path] = (identity, own)
    return own


def _reads_as_own(path: str, name: str, module: str) -> bool:
    expected = launcher(name, module)
    try:
        with open(path, "rb") as f:
            head = f.read(max(len(expected.encode()), 4096) + 1).decode()
    except (OSError, UnicodeDecodeError):
        return False
    if head == expected:
        return True
    # pip's console script: "#!<python of the environment>" ... "from <module> import main"
    first, _, rest = head.partition("\n")
    interpreter = first[2:].split()[0] if first.startswith("#!") and first[2:].split() else ""
    return os.path.dirname(interpreter) == os.path.dirname(sys.executable) and f"\nfrom {module} import main\n" in rest
