"""A whole CNI request (environment + stdin) parsed into one value, in the spec's order of checks."""

from __future__ import annotations

from .record import record

from .config import NetConf, decode, parse_config
from .env import Invocation, parse_env
from .errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, INVALID_ENVIRONMENT, CNIError
from .versions import COMMAND_SINCE, at_least, error_version, version_answer  # noqa: F401 (re-exported)


@record
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

    def prev_result(self, chained: bool = False):
        """The prevResult that CHECK, and a chained plugin's every command, cannot do without."""
        prev = self.config.prev_result
        if prev is not None:
            return prev
        if chained:
            raise CNIError(INVALID_CONFIG, f"{self.config.type} needs prevResult",
                           f"{self.config.type} is a chained plugin: put it after a plugin that creates the "
                           "interface (such as bridge) in a network configuration list")
        raise CNIError(INVALID_CONFIG, f"{self.command} needs prevResult", "the runtime must pass the ADD result")

    def prev_addresses(self) -> list[str] | None:
        """The addresses (CIDR) in prevResult, or None without one: what a DEL knows of the ADD."""
        prev = self.config.prev_result
        return None if prev is None else [ip.address for ip in prev.ips]

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
    return request_for(parse_env(env), stdin)


def request_for(invocation: Invocation, stdin: bytes) -> Request:
    """The Request of an already validated environment."""
    if invocation.command in ("", "VERSION"):
        return Request(invocation, None, stdin)
    conf = parse_config(decode(stdin))
    since = COMMAND_SINCE.get(invocation.command)
    if since and not at_least(conf.cni_version, since):
        raise CNIError(INCOMPATIBLE_VERSION, f"{invocation.command} is not defined in CNI {conf.cni_version}",
                       f"{invocation.command} needs a configuration with cniVersion {since} or newer")
    return Request(invocation, conf, stdin)
