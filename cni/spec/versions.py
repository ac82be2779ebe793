"""CNI spec versions pynet speaks, and the commands each one allows."""

from __future__ import annotations

SUPPORTED = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST = SUPPORTED[-1]

# The first spec version that defines each command (ADD, DEL and VERSION are older than 0.3.0).
COMMAND_SINCE = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}


def key(version: str) -> tuple[int, ...]:
    """Sort key of a supported version string ("0.4.0" -> (0, 4, 0))."""
    return tuple(int(part) for part in version.split("."))


def at_least(version: str, minimum: str) -> bool:
    """True when supported `version` is `minimum` or newer."""
    return key(version) >= key(minimum)


def _loads(stdin: bytes):
    """json.loads(stdin), without the json package for UTF-8 text (see cni.spec.fastjson)."""
    from .fastjson import loads

    try:
        text = stdin.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or text.startswith("\ufeff"):
        import json  # (other encodings, a byte-order mark: json reads bytes as the reference does)

        return json.loads(stdin)
    return loads(text)


def _asked(stdin: bytes):
    try:
        obj = _loads(stdin) if stdin.strip() else None
    except (ValueError, RecursionError):
        return None
    return obj.get("cniVersion") if isinstance(obj, dict) else None


def version_answer(stdin: bytes, supported: tuple[str, ...] = SUPPORTED) -> dict:
    """VERSION's result: the asked cniVersion echoed (the latest if none was asked) and ours."""
    asked = _asked(stdin)
    return {"cniVersion": asked if isinstance(asked, str) and asked else LATEST, "supportedVersions": list(supported)}


def version_document(stdin: bytes, supported: tuple[str, ...] = SUPPORTED) -> str:
    """VERSION's output: version_answer as json.dumps(indent=4) writes it (plus a newline), without
    the json package (cni.spec.fastjson)."""
    from .fastjson import dumps

    return dumps(version_answer(stdin, supported)) + "\n"


def error_version(stdin: bytes) -> str:
    """The cniVersion to put in an error: the config's if pynet supports it, else the latest."""
    asked = _asked(stdin)
    return asked if asked in SUPPORTED else LATEST
