"""dnsname's configuration: the domain, the container's name (CNI_ARGS K8S_POD_NAME, as Podman
passes it) and its aliases (the `aliases` capability, per network). No I/O."""

from __future__ import annotations

from ...spec import Request
from ...spec.errors import INVALID_ENVIRONMENT, CNIError, invalid_config
from ...spec.record import record

DEFAULT_DOMAIN = "dns.podman"  # the reference's
LABEL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@record
class DnsConf:
    domain: str
    names: tuple[str, ...]  # the container's name (if it has one), then its aliases
    named: bool  # CNI_ARGS named the container (K8S_POD_NAME)


def problem(name: str) -> str:
    """Why `name` cannot be a DNS name ("" if it can): dot-separated labels of letters, digits, "-"
    and "_", each 1-63 characters, 253 in all."""
    if not name or len(name) > 253:
        return "a name has 1 to 253 characters"
    for label in name.rstrip(".").split("."):
        if not 1 <= len(label) <= 63 or not set(label) <= LABEL_CHARACTERS:
            return f"label {label[:70]!r}: 1 to 63 letters, digits, - or _"
    return ""


def parse(request: Request) -> DnsConf:
    conf = request.config
    domain = conf.get("domainName")
    domain = DEFAULT_DOMAIN if domain is None or domain == "" else domain
    if not isinstance(domain, str) or problem(domain):
        raise invalid_config("invalid domainName", f"{str(domain)[:80]!r}: "
                             f"{problem(domain) if isinstance(domain, str) else 'not a string'}")
    names = []
    name = request.cni_args(("K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_INFRA_CONTAINER_ID")).get("K8S_POD_NAME", "")
    if name:
        if problem(name):
            raise CNIError(INVALID_ENVIRONMENT, "invalid K8S_POD_NAME", f"{name[:80]!r} cannot be a DNS name: "
                           f"{problem(name)}")
        names.append(name)
    aliases = conf.runtime_config.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise invalid_config("invalid runtimeConfig.aliases", "an object: network name -> list of names")
    mine = aliases.get(conf.name) or []
    if not isinstance(mine, list) or not all(isinstance(a, str) for a in mine):
        raise invalid_config("invalid runtimeConfig.aliases", f"aliases[{conf.name!r}] must be a list of names")
    for alias in mine:
        if problem(alias):
            raise invalid_config("invalid alias", f"{alias[:80]!r}: {problem(alias)}")
        if alias.lower() not in (n.lower() for n in names):
            names.append(alias)
    return DnsConf(domain=domain.rstrip("."), names=tuple(names), named=bool(name))
