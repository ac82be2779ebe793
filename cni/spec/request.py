"""A whole CNI request (environment + stdin) parsed into one value, in the spec's order of checks."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .config import NetConf, check_version, decode, parse_config
from .env import Invocation, parse_env
from .errors import INCOMPATIBLE_VERSION, INVALID_ENVIRONMENT, CNIError
from .versions import COMMAND_SINCE, LATEST, SUPPORTED, at_least


@dataclass(frozen=True)
class Request:
    """What a plugin is asked to do. `config` is None only for VERSION (and for no command)."""

    invocation: Invocation
    config: NetConf | None
    stdin: bytes

    @property
    def command(self) -> str:
        return self.invocation.command

    @property
    def container_id(self) -> str:
        return self.invocation.container_id

    @property
    def netns(self) -> str:
        return self.invocation.netns

    @property
    def ifname(self) -> str:
        return self.invocation.ifname

    @property
    def path(self) -> tuple[str, ...]:
        return self.invocation.path

    def cni_args(self, known: tuple[str, ...] = ()) -> dict[str, str]:
        """CNI_ARGS as a dict; keys outside `known` are an error unless IgnoreUnknown is true."""
        pairs = dict(self.invocation.args)
        ignore = pairs.pop("IgnoreUnknown", "").lower() in ("1", "true")
        unknown = [k for k in pairs if k not in known]
        if unknown and not ignore:
            raise CNIError(INVALID_ENVIRONMENT, "unknown CNI_ARGS",
                           f"{', '.join(unknown)} not understood by this plugin "
                           "(add IgnoreUnknown=1 to CNI_ARGS to ignore them)")
        return {k: v for k, v in pairs.items() if k in known}


def parse_request(env, stdin: bytes) -> Request:
    """Environment first (code 4), then the configuration (6, 7, 1), then the command's version."""
    invocation = parse_env(env)
    if invocation.command in ("", "VERSION"):
        return Request(invocation, None, stdin)
    conf = parse_config(decode(stdin))
    since = COMMAND_SINCE.get(invocation.command)
    if since and not at_least(conf.cni_version, since):
        raise CNIError(INCOMPATIBLE_VERSION, f"{invocation.command} is not defined in CNI {conf.cni_version}",
                       f"{invocation.command} needs a configuration with cniVersion {since} or newer")
    return Request(invocation, conf, stdin)


def version_answer(stdin: bytes, supported: tuple[str, ...] = SUPPORTED) -> dict:
    """VERSION's result: the asked cniVersion echoed (the latest if none was asked) and ours."""
    asked = LATEST
    try:
        obj = json.loads(stdin) if stdin.strip() else {}
        if isinstance(obj, dict) and isinstance(obj.get("cniVersion"), str) and obj["cniVersion"]:
            asked = obj["cniVersion"]
    except ValueError:
        pass
    return {"cniVersion": asked, "supportedVersions": list(supported)}


def error_version(stdin: bytes) -> str:
    """The cniVersion to put in an error: the config's if pynet supports it, else the latest."""
    try:
        return check_version(json.loads(stdin))
    except (ValueError, CNIError, AttributeError, TypeError):
        return LATEST
