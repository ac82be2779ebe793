"""The CNI error type and the codes pynet uses (spec codes 1-99, pynet's own from 100)."""

from __future__ import annotations

# Codes defined by the CNI spec.
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50
LIMITED_CONNECTIVITY = 51

# pynet's own codes (documented in docs/protocol.md).
INTERNAL = 100
KERNEL = 101
IFNAME_EXISTS = 102
ADDRESSES_EXHAUSTED = 103
ADDRESS_UNAVAILABLE = 104
CHECK_FAILED = 105
PORT_TAKEN = 106

DESCRIPTIONS = {
    INCOMPATIBLE_VERSION: "incompatible CNI version",
    UNSUPPORTED_FIELD: "unsupported field in network configuration",
    UNKNOWN_CONTAINER: "container unknown or does not exist",
    INVALID_ENVIRONMENT: "invalid necessary environment variables",
    IO_FAILURE: "I/O failure",
    DECODE_FAILURE: "failed to decode content",
    INVALID_CONFIG: "invalid network configuration",
    TRY_AGAIN_LATER: "try again later",
    NOT_AVAILABLE: "plugin not available",
    LIMITED_CONNECTIVITY: "plugin not available, existing containers may have limited connectivity",
    INTERNAL: "internal error in pynet (a bug: please report it with the log)",
    KERNEL: "a kernel (netlink) operation failed",
    IFNAME_EXISTS: "the interface name already exists in the container",
    ADDRESSES_EXHAUSTED: "no free address left in the range",
    ADDRESS_UNAVAILABLE: "the requested address is taken or outside every range",
    CHECK_FAILED: "CHECK found the attachment not as ADD left it",
    PORT_TAKEN: "the host port is already published by another container",
}


MAX_MSG = 500  # characters of msg and of details an error carries at most (the input may be huge)
MAX_DETAILS = 2000


class CNIError(Exception):
    """An error a plugin reports to the runtime: spec code, short message, longer details."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        msg, details = _capped(msg, MAX_MSG), _capped(details, MAX_DETAILS)
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_dict(self, cni_version: str) -> dict:
        """The spec's error structure."""
        return {"cniVersion": cni_version, "code": self.code, "msg": self.msg, "details": self.details}

    def output(self, cni_version: str) -> str:
        """The error as a plugin prints it on stdout (a plugin's main and the agent's client alike)."""
        from .fastjson import dumps  # not at import time: errors are rare

        return dumps(self.to_dict(cni_version)) + "\n"

    def __str__(self) -> str:
        return f"{self.msg}: {self.details}" if self.details else self.msg

    def __reduce__(self):  # (pickled: from a child process that did part of the work)
        return CNIError, (self.code, self.msg, self.details)


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shown(value, limit: int = 80) -> str:
    """`value` as an error message quotes it: repr()'s form, cut short, whatever its size or depth."""
    import reprlib  # not at import time: errors are rare

    short = reprlib.Repr()
    short.maxstring = short.maxother = limit
    short.maxlevel = 3
    return short.repr(value)


def invalid_config(msg: str, details: str = "") -> CNIError:
    """Shorthand for the commonest error: code 7."""
    return CNIError(INVALID_CONFIG, msg, details)
