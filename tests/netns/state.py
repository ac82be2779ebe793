"""What a network namespace holds, in a form to compare before and after (Netns.snapshot)."""

from __future__ import annotations

import difflib
import json
import re

ROUTES = [("-4", "route", "show", "table", "all"), ("-6", "route", "show", "table", "all"),
          ("-4", "rule", "show"), ("-6", "rule", "show")]
# what the kernel derives by itself from links, addresses and forwarding, some of it a moment after
# they change: link-local and multicast routes, IPv6 anycast routes
DERIVED_ROUTE = re.compile(r"^((local|multicast|anycast) )?(fe80:|ff00::/8)|^anycast ")
# what follows a link's carrier or runs on a timer rather than being configured
CARRIER_FLAGS = {"LOWER_UP", "NO-CARRIER", "M-DOWN"}
MOVING_OPTION = re.compile(r"timer|topology_change|config_pending|^(bridge|root|designated)_|^root_port$|^state$")
# the sysctls of protocols every namespace has (others appear as modules load, in every namespace at once)
SYSCTLS = r"^net\.(core|ipv4|ipv6)\."
VOLATILE_SYSCTL = re.compile(r"tcp_fastopen_key$|_available_|stable_secret$|^net\.ipv4\.vs\.")
# the routing switches pynet turns on for good, as the reference does: forwarding (IPv4 forwarding
# also turns conf.all.accept_redirects off) and route_localnet (a published port on 127.0.0.1)
SWITCHES = re.compile(r"^net\.ipv4\.ip_forward$|^net\.ipv[46]\.conf\.[^.]+\.forwarding$"
                      r"|^net\.ipv4\.conf\.all\.accept_redirects$|^net\.ipv4\.conf\.[^.]+\.route_localnet$")


def snapshot(run, switches: bool = False) -> dict:
    """The state of the namespace that `run` (argv → CompletedProcess) runs commands in."""
    details = json.loads(run("ip", "-j", "-d", "addr", "show").stdout or "[]")
    links = {a["ifname"]: (a.get("linkinfo", {}).get("info_kind", ""), a.get("master", ""),
                           sorted(f"{i['local']}/{i['prefixlen']}" for i in a.get("addr_info", [])
                                  if i.get("scope") != "link"))
             for a in details}
    return {"links": links, "link_state": {a["ifname"]: link_state(a) for a in details},
            "routes": routes(run), "neighbours": neighbours(run),
            "nft": configuration(run("nft", "list", "ruleset", check=False).stdout),
            "sysctls": sysctls(run, switches)}


def link_state(link: dict) -> dict:
    """MTU, MAC, flags (up, promiscuous, ...), and the options of its kind and of its bridge port."""
    info = link.get("linkinfo", {})

    def options(key: str) -> dict:
        return {k: v for k, v in info.get(key, {}).items() if not MOVING_OPTION.search(k)}

    return {"mtu": link.get("mtu"), "mac": link.get("address"), "txqlen": link.get("txqlen"),
            "flags": sorted(set(link.get("flags", [])) - CARRIER_FLAGS), "promiscuity": link.get("promiscuity"),
            "allmulti": link.get("allmulti"), "kind": options("info_data"), "port": options("info_slave_data")}


def routes(run) -> list[str]:
    """IPv4 and IPv6 routes of every table and the policy rules, without what the kernel derives."""
    lines = []
    for argv in ROUTES:
        lines += [f"{argv[0]} {argv[1]}: {line.replace(' linkdown', '')}"
                  for line in run("ip", *argv).stdout.splitlines() if not DERIVED_ROUTE.search(line)]
    return sorted(lines)


def neighbours(run) -> list[str]:
    """Permanent neighbour entries and FDB remotes (what VXLAN links are given; the bridge's own
    entries follow its ports)."""
    permanent = run("ip", "neigh", "show", "nud", "permanent").stdout.splitlines()
    remotes = [line for line in run("bridge", "fdb", "show", check=False).stdout.splitlines() if " dst " in line]
    return sorted(permanent + remotes)


def sysctls(run, switches: bool = True) -> dict[str, str]:
    """The namespace's net.core/ipv4/ipv6 sysctls (name: value), but for what time changes; the
    routing switches only with `switches`."""
    out = run("sysctl", "-a", "--pattern", SYSCTLS, check=False).stdout
    found = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    return {name: value for name, value in found.items()
            if not VOLATILE_SYSCTL.search(name) and (switches or not SWITCHES.search(name))}


def configuration(ruleset: str) -> str:
    """An nft ruleset without what traffic changes (counters) and without the empty built-in
    chains iptables-nft leaves behind once used (on a legacy host they always exist)."""
    ruleset = re.sub(r"counter packets \d+ bytes \d+", "counter", ruleset)
    empty_chain = r"\tchain \w+ \{\n\t\ttype [^\n]*policy accept;\n\t\}\n\n?"
    ruleset = re.sub(empty_chain, "", ruleset)
    return re.sub(r"table ip6? (nat|filter|mangle|raw) \{\n\}\n", "", ruleset)


def is_snapshot(value) -> bool:
    return isinstance(value, dict) and {"links", "routes", "nft"} <= set(value)


def differences(left: dict, right: dict) -> list[str]:
    """What differs between two snapshots, a line each: "-" what only `left` has, "+" `right`. A
    link on one side only is one line (not its state and sysctls as well)."""
    one_side = set(left.get("links", {})) ^ set(right.get("links", {}))

    def of_link_on_one_side(key: str, name: str) -> bool:
        return (key == "link_state" and name in one_side) or \
            (key == "sysctls" and any(f".{link}." in name for link in one_side))

    lines = []
    for key in sorted(set(left) | set(right)):
        old, new = left.get(key), right.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            for name in sorted(set(old) | set(new)):
                if old.get(name) != new.get(name) and not of_link_on_one_side(key, name):
                    lines += _changed(f"{key} {name}", old.get(name), new.get(name), name in old, name in new)
        elif old != new:
            lines += _changed(key, old, new, key in left, key in right)
    return lines


def _changed(what: str, old, new, in_old: bool = True, in_new: bool = True) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [line for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)
                for line in _changed(f"{what} {name}", old.get(name), new.get(name), name in old, name in new)]
    if isinstance(old, str) and isinstance(new, str) and "\n" in old + new:
        diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))[2:]
        return [f"{line[0]}{what} {line[1:]}" for line in diff if line[:1] in "-+"]
    if isinstance(old, list) and isinstance(new, list) and all(isinstance(x, str) for x in old + new):
        return [f"-{what} {line}" for line in old if line not in new] + \
            [f"+{what} {line}" for line in new if line not in old]
    return ([f"-{what}: {old!r}"] if in_old else []) + ([f"+{what}: {new!r}"] if in_new else [])
