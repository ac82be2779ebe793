"""`pynet plugins list|install`: the plugin executables, under pynet's or the reference names."""

from __future__ import annotations

import os
import sys
import tempfile

from ..plugins import PLUGINS, load
from .output import emit

# -S: no site-packages at start (saves ~3 ms per call); the plugin adds them only if it runs
# in-process (cni.skel), not when it hands the request to the agent.
LAUNCHER = """#!{python} -IS
# pynet {name} plugin, installed by `pynet plugins install`
import sys
sys.path.insert(0, {root!r})
from {module} import main
sys.exit(main())
"""
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def file_name(name: str, names: str) -> str:
    return name if names == "reference" else f"pynet-{name}"


def install(directory: str, names: str) -> list[str]:
    """Write one executable per plugin into `directory` (atomically, so a running one is not hit)."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for name, module in PLUGINS.items():
        target = os.path.join(directory, file_name(name, names))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pynet-install-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(LAUNCHER.format(python=sys.executable, name=name, module=module, root=ROOT))
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
        written.append(target)
    return written


def command_list(args) -> int:
    rows = []
    for name in PLUGINS:
        plugin = load(name)
        rows.append({"name": name, "executable": f"pynet-{name}", "versions": list(plugin.versions),
                     "summary": plugin.summary})
    emit(rows, [("name", "PLUGIN"), ("executable", "EXECUTABLE"), ("versions", "CNI VERSIONS"),
                ("summary", "WHAT IT DOES")], args.format)
    return 0


def command_install(args) -> int:
    for path in install(args.dir, args.names):
        if args.format != "json":
            print(path)
    if args.format == "json":
        import json

        print(json.dumps({"dir": args.dir, "names": args.names, "plugins": list(PLUGINS)}))
    return 0


def register(sub) -> None:
    parser = sub.add_parser("plugins", help="list or install the CNI plugin executables")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="show each plugin and the CNI versions it speaks")
    listing.set_defaults(run=command_list)
    inst = actions.add_parser("install", help="put runnable plugin executables into a directory")
    inst.add_argument("--dir", required=True, help="target directory, e.g. /opt/cni/bin")
    inst.add_argument("--names", choices=("reference", "pynet"), default="pynet",
                      help="'reference': loopback, bridge, host-local... (drop-in for a runtime's CNI_PATH); "
                           "'pynet': pynet-loopback, ... (default)")
    inst.set_defaults(run=command_install)
