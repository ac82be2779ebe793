"""`pynet plugins list|install`: the plugin executables, under pynet's or the reference names."""

from __future__ import annotations

import os
import tempfile

from ..launcher import launcher
from ..plugins import PLUGINS, load
from .output import emit


def file_name(name: str, names: str) -> str:
    return name if names == "reference" else f"pynet-{name}"


def install(directory: str, names: str) -> list[str]:
    """Write one executable per plugin into `directory` (atomically, so a running one is not hit)."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for name in PLUGINS:
        target = os.path.join(directory, file_name(name, names))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pynet-install-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(_launcher(name))
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


def register(sub, common) -> None:
    parser = sub.add_parser("plugins", parents=[common], help="list or install the CNI plugin executables")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common], help="show each plugin and the CNI versions it speaks")
    listing.set_defaults(run=command_list)
    inst = actions.add_parser("install", parents=[common], help="put runnable plugin executables into a directory")
    inst.add_argument("--dir", required=True, help="target directory, e.g. /opt/cni/bin")
    inst.add_argument("--names", choices=("reference", "pynet"), default="pynet",
                      help="'reference': loopback, bridge, host-local... (drop-in for a runtime's CNI_PATH); "
                           "'pynet': pynet-loopback, ... (default)")
    inst.set_defaults(run=command_install)


DEFAULT_RUNTIME_DIR = "/opt/pynet/cni"


def runtime_path() -> list[str]:
    """The CNI_PATH pynet's runtime runs plugins from: $CNI_PATH, else /opt/pynet/cni, where
    pynet's plugins are installed under the reference names on first use (and again when they
    were installed by another Python, e.g. a checkout that moved)."""
    if os.environ.get("CNI_PATH"):
        return [d for d in os.environ["CNI_PATH"].split(":") if d]
    if not all(_current_launcher(os.path.join(DEFAULT_RUNTIME_DIR, name), name) for name in PLUGINS):
        install(DEFAULT_RUNTIME_DIR, "reference")
    return [DEFAULT_RUNTIME_DIR]


def _launcher(name: str) -> str:
    return launcher(name, PLUGINS[name])


def _current_launcher(path: str, name: str) -> bool:
    """Is `path` the launcher this installation writes for `name` (same Python, same format)?"""
    try:
        with open(path) as f:
            return f.read() == _launcher(name) and os.access(path, os.X_OK)
    except (OSError, UnicodeDecodeError):
        return False
