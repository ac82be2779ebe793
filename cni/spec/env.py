"""The CNI_* environment variables: parsed and validated, no I/O."""

from __future__ import annotations

from collections import namedtuple

from .errors import INVALID_ENVIRONMENT, CNIError, shown

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")

# Variables each command needs (the spec's "required environment parameters").
REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_PATH",),
    "STATUS": (),
    "VERSION": (),
}

# Container ids and network names: the spec's pattern; at most a file name's length (255),
# because host-local and the result cache use them in file names.
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | {"_", ".", "-"}  # (a set, not `re`: its import costs a cold plugin start ~5 ms)
NAME_MAX = 255
IFNAME_MAX = 15


# What the runtime said in the environment (a namedtuple: this module stays cheap to import).
Invocation = namedtuple("Invocation", "command container_id netns ifname args path",
                        defaults=("", "", "", (), ()))


def name_problem(value: str) -> str:
    """Why `value` is not a valid container id or network name ("" if it is)."""
    if not value:
        return "it is empty"
    if len(value) > NAME_MAX:
        return f"it is {len(value)} characters long, at most {NAME_MAX} are allowed"
    if value[0] not in _ALNUM or not _NAME_CHARS.issuperset(value):
        return ("it must start with a letter or digit and contain only letters, digits, "
                "'_', '.' and '-'")
    return ""


def ifname_problem(value) -> str:
    """Why `value` is not a name the kernel gives a link as it is ("" if it is).

    The kernel's dev_valid_name() refuses empty names, names of 16 bytes or more, "." and "..", and
    '/', ':' or whitespace; a '%' makes it pick a name of its own (eth%d becomes eth0), so it is
    refused too, as are NUL bytes and text that is not UTF-8.
    """
    if not isinstance(value, str):
        return "it is not a string"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid UTF-8 text"
    if size == 0:
        return "it is empty"
    if size > IFNAME_MAX:
        return f"it is {size} bytes long, Linux allows at most {IFNAME_MAX}"
    if value in (".", ".."):
        return "'.' and '..' are not interface names"
    if any(ch in "/:%\0" or ch.isspace() or not ch.isprintable() for ch in value):
        return "it must not contain '/', ':', '%', whitespace or control characters"
    return ""


def check_ifname(value, where: str, code: int) -> str:
    """`value` if it is a valid interface name, else CNI error `code` naming `where`."""
    problem = ifname_problem(value)
    if problem:
        raise CNIError(code, f"invalid {where}", f"{where} {shown(value)} is not an interface name: {problem}")
    return value


def parse_cni_args(text: str) -> tuple[tuple[str, str], ...]:
    """CNI_ARGS "K=V;K2=V2" as ordered pairs; empty segments are ignored."""
    pairs = []
    for segment in text.split(";"):
        if not segment:
            continue
        key, sep, value = segment.partition("=")
        if not sep or not key:
            raise CNIError(INVALID_ENVIRONMENT, "invalid CNI_ARGS",
                           f"{segment!r} is not KEY=VALUE (CNI_ARGS is 'K1=V1;K2=V2')")
        pairs.append((key, value))
    return tuple(pairs)


def parse_env(env) -> Invocation:
    """Validate the CNI_* variables of `env` (a mapping) for its CNI_COMMAND.

    An absent CNI_COMMAND gives an Invocation with command "" (a person ran the plugin by hand).
    """
    command = env.get("CNI_COMMAND", "")
    if not command:
        return Invocation(command="")
    if command not in COMMANDS:
        raise CNIError(INVALID_ENVIRONMENT, f"unknown CNI_COMMAND {command!r}",
                       "CNI_COMMAND must be one of " + ", ".join(COMMANDS))
    missing = [name for name in REQUIRED[command] if not env.get(name)]
    if missing:
        raise CNIError(INVALID_ENVIRONMENT, f"{command} needs " + ", ".join(missing),
                       "required environment variables missing or empty: " + ", ".join(missing))
    if command == "VERSION":
        return Invocation(command=command)

    container_id = env.get("CNI_CONTAINERID", "")
    if container_id or command in ("ADD", "DEL", "CHECK"):
        problem = name_problem(container_id)
        if problem:
            raise CNIError(INVALID_ENVIRONMENT, "invalid CNI_CONTAINERID",
                           f"CNI_CONTAINERID {container_id[:80]!r}: {problem}")
    ifname = env.get("CNI_IFNAME", "")
    if ifname or command in ("ADD", "DEL", "CHECK"):
        check_ifname(ifname, "CNI_IFNAME", INVALID_ENVIRONMENT)
    netns = env.get("CNI_NETNS", "")
    if netns and (not netns.startswith("/") or "\0" in netns):
        raise CNIError(INVALID_ENVIRONMENT, "invalid CNI_NETNS",
                       f"CNI_NETNS {netns[:80]!r} must be an absolute path to a network namespace")
    return Invocation(
        command=command,
        container_id=container_id,
        netns=netns,
        ifname=ifname,
        args=parse_cni_args(env.get("CNI_ARGS", "")),
        path=tuple(p for p in env.get("CNI_PATH", "").split(":") if p),
    )
