"""The plugin main shared by every pynet plugin.

`handle(plugin, env, stdin)` turns one request into one Response (stdout, stderr, exit code) and
never raises, so the same code serves the short-lived plugin process and a resident agent.
Heavy modules are imported only by a plugin's command module, which VERSION and protocol errors
never load.
"""

from __future__ import annotations

import os
import sys

from . import __version__, context
from .agent import AGENT_COMMANDS, write
from .spec import errors
from .spec.errors import CNIError
from .spec.versions import SUPPORTED, error_version, version_document

CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703  # ioctl: which kind of namespace a /proc/*/ns or bind-mounted file is


class Response:
    """What a plugin answers: stdout, stderr and the exit code. (A plain class: plugin entry points
    import this module, and collections' namedtuple alone costs them about a millisecond.)"""

    __slots__ = ("stdout", "stderr", "exit_code")

    def __init__(self, stdout: str = "", stderr: str = "", exit_code: int = 0) -> None:
        self.stdout, self.stderr, self.exit_code = stdout, stderr, exit_code

    def __iter__(self):
        return iter((self.stdout, self.stderr, self.exit_code))

    def __eq__(self, other) -> bool:
        return isinstance(other, Response) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"Response(stdout={self.stdout!r}, stderr={self.stderr!r}, exit_code={self.exit_code!r})"

class Plugin:
    """A plugin: its reference name and the module holding add/delete/check (and gc/status).

    `uses_netns` is False for IPAM plugins: they never enter CNI_NETNS, so it is not checked.
    """

    def __init__(self, name: str, commands: str, summary: str = "", versions: tuple[str, ...] = SUPPORTED,
                 uses_netns: bool = True) -> None:
        self.name = name
        self.commands = commands
        self.summary = summary
        self.versions = versions
        self.uses_netns = uses_netns

    @property
    def registered(self) -> bool:
        """One of pynet's own plugins (the agent runs only those)."""
        from .plugins import PLUGINS

        return self.commands.startswith(PLUGINS.get(self.name, "\0") + ".")

    @property
    def about(self) -> str:
        return (f"pynet {self.name} plugin {__version__} ({self.summary}); "
                f"CNI spec versions {', '.join(self.versions)}")

    def main(self, stdin: bytes | None = None, agent: bool = True) -> int:
        """Entry point of the plugin executable; `stdin` if it was read already, `agent` False when
        the agent was asked already (cni.agent.client.main)."""
        command = os.environ.get("CNI_COMMAND", "")
        try:
            stdin = _read_stdin(command) if stdin is None else stdin
        except OSError as e:
            response = _error(CNIError(errors.IO_FAILURE, "cannot read the network configuration from stdin",
                                       str(e)), b"")
        else:
            response = None
            if agent and command in AGENT_COMMANDS and self.registered:
                from .agent.client import call  # standard library only

                if os.environ.get("PYNET_AGENT", "") != "off":
                    answer = call(self.name, os.environ, stdin)
                    response = Response(*answer) if answer is not None else None
            if response is None:
                response = handle(self, os.environ, stdin)
        write(sys.stdout, response.stdout)
        write(sys.stderr, response.stderr)
        return response.exit_code


def _full_path() -> None:
    """Add site-packages (pyroute2 & co.) when started without them (`python -S`, see `pynet plugins
    install`): only a plugin that runs the request itself needs them."""
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


def _read_stdin(command: str) -> bytes:
    # A person running the plugin by hand (no command, or VERSION at a terminal) is not made to type.
    if sys.stdin is None or not command or (command == "VERSION" and sys.stdin.isatty()):
        return b""
    from .spec.limits import MAX_CONFIG_BYTES

    return sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1)  # enough to refuse it (and /dev/zero ends)


def _dump(obj: dict) -> str:
    from .spec.fastjson import dumps

    return dumps(obj) + "\n"


def _error(error: CNIError, stdin: bytes) -> Response:
    return Response(stdout=error.output(error_version(stdin)), exit_code=1)


def handle(plugin: Plugin, env, stdin: bytes, cwd: str | None = None,
           cancel: context.Cancellation | None = None) -> Response:
    """Answer one CNI request; every failure becomes a CNI error, never an exception.

    `env` is the request's environment (os.environ in a plugin process, the caller's in the agent);
    while the request runs, code reads PYNET_* knobs from it through cni.context. The agent also
    gives the caller's working directory and a `cancel` it sets when the caller gives up: an ADD
    done by then is undone (see cni.context.Cancellation).
    """
    token = context.using(env, cwd, cancel)
    try:
        return _handle(plugin, env, stdin, cancel)
    finally:
        context.reset(token)


def _handle(plugin: Plugin, env, stdin: bytes, cancel: context.Cancellation | None) -> Response:
    try:
        if env.get("CNI_COMMAND") == "VERSION":  # (it needs no other variable: nothing to parse)
            return Response(stdout=version_document(stdin, plugin.versions))
        from .spec.env import parse_env

        invocation = parse_env(env)
        if invocation.command == "":
            return Response(stderr=plugin.about + "\n")
        from .spec.request import request_for  # the configuration model, not needed above

        request = request_for(invocation, stdin)
        if request.config.cni_version not in plugin.versions:
            raise CNIError(errors.INCOMPATIBLE_VERSION, "incompatible CNI version",
                           f"config is {request.config.cni_version!r}, the {plugin.name} plugin supports "
                           + ", ".join(plugin.versions))
        if plugin.uses_netns:
            check_netns(request)
        return _dispatch(plugin, request, cancel)
    except CNIError as e:
        if e.code == errors.INTERNAL:
            _log_internal(plugin, e)
        return _error(e, stdin)
    except BaseException as e:  # noqa: BLE001 - the runtime must get a CNI error, whatever happened
        _log_internal(plugin, e)
        return _error(CNIError(errors.INTERNAL, f"internal error in pynet {plugin.name}: {type(e).__name__}: {e}"[:500],
                               "this is a bug in pynet; run with PYNET_DEBUG=1 (and PYNET_LOG_FILE) "
                               "for a traceback in the log"), stdin)


def _dispatch(plugin: Plugin, request, cancel: context.Cancellation | None) -> Response:
    import importlib

    _full_path()  # the commands need site-packages (pyroute2 & co.)
    commands = importlib.import_module(plugin.commands)
    if request.command == "ADD":
        result = commands.add(request)
        if cancel is not None and not cancel.commit():
            _undo_late_add(commands, request)
        return Response(stdout=_dump(result.render(request.config.cni_version)))
    name = {"DEL": "delete", "CHECK": "check", "GC": "gc", "STATUS": "status"}[request.command]
    function = getattr(commands, name, None)
    if function is not None:
        function(request)
    elif name == "check":
        raise CNIError(errors.INTERNAL, f"the {plugin.name} plugin has no CHECK")
    return Response()


def _undo_late_add(commands, request) -> None:
    """An ADD that finished after its caller gave up: nobody will DEL it, so it is DELeted here."""
    from .spec.record import replace

    message = "the caller gave up waiting: the ADD that finished after it was undone"
    try:
        commands.delete(replace(request, invocation=request.invocation._replace(command="DEL")))
    except Exception as e:  # noqa: BLE001 - reported with the rest
        raise CNIError(errors.TRY_AGAIN_LATER, message + " in part", str(e)) from None
    raise CNIError(errors.TRY_AGAIN_LATER, message)


def _log_internal(plugin: Plugin, error: BaseException) -> None:
    from .log import debug_enabled, logger

    log = logger()
    if debug_enabled():
        log.error("internal error in %s", plugin.name, exc_info=error)
    else:
        log.error("internal error in %s: %s: %s", plugin.name, type(error).__name__, error)


def check_netns(request) -> None:
    """CNI_NETNS must be a network namespace other than the plugin's own (ADD/CHECK: must exist)."""
    path = request.netns
    if not path or request.command not in ("ADD", "DEL", "CHECK"):
        return
    from .files import open_regular  # a FIFO or a device is refused before open() could block on it

    try:
        fd = open_regular(path)
    except FileNotFoundError:
        if request.command == "DEL":
            return
        raise CNIError(errors.UNKNOWN_CONTAINER, "the container's network namespace does not exist",
                       f"CNI_NETNS {path} is missing (was the container removed?)") from None
    except OSError as e:
        raise CNIError(errors.INVALID_ENVIRONMENT, "cannot open CNI_NETNS", f"{path}: {e.strerror}") from None
    try:
        import fcntl

        try:
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            kind = None
        if kind != CLONE_NEWNET:
            raise CNIError(errors.INVALID_ENVIRONMENT, "CNI_NETNS is not a network namespace",
                           f"{path} is not a network namespace file (e.g. /run/netns/NAME or /proc/PID/ns/net)")
        own = os.stat("/proc/thread-self/ns/net")
        theirs = os.fstat(fd)
        if (own.st_dev, own.st_ino) == (theirs.st_dev, theirs.st_ino):
            raise CNIError(errors.INVALID_ENVIRONMENT, "CNI_NETNS is the plugin's own network namespace",
                           f"{path} is the namespace the plugin runs in; a container needs a namespace of its own")
    finally:
        os.close(fd)
