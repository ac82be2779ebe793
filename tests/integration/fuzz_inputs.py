"""Hostile CNI requests for the fuzz test (tests/integration/test_fuzz.py): every plugin's working
configuration, mutated by hypothesis, and a mutated CNI_* environment.

A request is (plugin, environment, stdin). Mutations set a key anywhere in the configuration (one
that is there, or one a plugin reads) to a value of the wrong type, a huge or negative number, a bad
CIDR, deep nesting, a huge string, a NUL byte, an unpaired surrogate, a name with '/', '..', '%' or
16+ bytes; delete keys; damage the bytes on stdin (invalid UTF-8, a BOM, truncation); and set CNI_*
variables to the same kind of values (bytes that are not UTF-8 included).

Safety: nothing generated may reach outside the test's namespaces and directory. Absolute paths
are only the test's own or read-only special files; relative ones resolve under a deep working
directory inside the test's tmp_path; CNI_PATH holds only pynet's plugins; CNI_NETNS is one of the
test's namespaces or no namespace at all.
"""

from __future__ import annotations

import copy
import json

from hypothesis import strategies as st

PLUGINS = ("bridge", "portmap", "firewall", "tuning", "loopback", "macvlan", "ipvlan", "overlay", "host-local",
           "static", "dnsname")
CHAINED = ("tuning", "portmap", "firewall")  # their container is the one with an eth0
ARGS = {"dnsname": "IgnoreUnknown=1;K8S_POD_NAME=fuzzbox"}  # CNI_ARGS a plugin's working request has
COMMANDS = ("ADD", "ADD", "ADD", "ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")


def bases(lab: dict) -> dict[str, dict]:
    """A configuration per plugin that ADD accepts in the fuzz lab (ipvlan: the kernel lacks it), with
    every optional key the plugin reads present, so that mutations reach them. `lab` holds paths
    and names of the lab (see test_fuzz.fuzzlab)."""
    host_local = {"type": "host-local", "dataDir": lab["data"], "resolvConf": lab["resolv"],
                  "ranges": [[{"subnet": "10.91.0.0/24", "rangeStart": "10.91.0.10", "rangeEnd": "10.91.0.200",
                               "gateway": "10.91.0.1"}], [{"subnet": "fd91::/120"}]],
                  "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.0.2.0/24", "gw": "10.91.0.1"}]}
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": lab["tuned"]}],
            "ips": [{"address": "10.91.0.50/24", "gateway": "10.91.0.1", "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.91.0.1"}], "dns": {"nameservers": ["10.91.0.1"]}}
    named = {**prev, "ips": [{"address": "10.95.0.50/24", "gateway": "10.95.0.1", "interface": 0},  # (lab["dns0"])
                             {"address": "fd95::50/64", "gateway": "fd95::1", "interface": 0}],
             "dns": {"nameservers": ["10.95.0.9"], "search": ["fuzz.test"]}}
    common = {"cniVersion": "1.0.0", "name": "fuzznet"}
    return {
        "bridge": {**common, "type": "bridge", "bridge": lab["bridge"], "isGateway": True, "isDefaultGateway": False,
                   "ipMasq": True, "hairpinMode": True, "promiscMode": False, "forceAddress": False,
                   "enabledad": False, "mtu": 1400, "isolation": False, "icc": True, "firewallBackend": "",
                   "capabilities": {"mac": True, "ips": True}, "runtimeConfig": {"mac": "02:42:0a:5b:00:09"},
                   "dns": {"nameservers": ["10.91.0.1"], "search": ["fuzz.test"]}, "args": {"cni": {}},
                   "ipam": host_local},
        "portmap": {**common, "type": "portmap", "snat": True, "firewallBackend": "",
                    "capabilities": {"portMappings": True},
                    "runtimeConfig": {"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"},
                                                       {"hostPort": 18053, "containerPort": 53, "protocol": "udp",
                                                        "hostIP": "0.0.0.0"}]},
                    "prevResult": prev},
        "firewall": {**common, "type": "firewall", "backend": "", "prevResult": prev},
        "tuning": {**common, "type": "tuning", "mtu": 1300, "promisc": True, "allmulti": False,
                   "mac": "02:42:0a:5b:00:32", "sysctl": {"net.ipv4.conf.IFNAME.rp_filter": "2",
                                                          "net.core.somaxconn": "512"},
                   "dataDir": lab["state"] + "/tuning", "args": {"cni": {"mtu": 1280}}, "prevResult": prev},
        "loopback": {**common, "type": "loopback"},
        "macvlan": {**common, "type": "macvlan", "master": "m0", "mode": "bridge", "mtu": 1400,
                    "linkInContainer": False, "ipam": host_local},
        "ipvlan": {**common, "type": "ipvlan", "master": "m0", "mode": "l2", "mtu": 1400, "ipam": host_local},
        "overlay": {**common, "type": "overlay", "vni": 4242, "network": "10.244.0.0/16", "subnetLen": 24,
                    "underlay": "m0", "port": 4789, "mtu": 1400, "leaseTTL": 600, "ipMasq": True,
                    "isDefaultGateway": False, "isolation": False, "firewallBackend": "", "bridge": "pnofuzz",
                    "store": {"type": "file", "path": lab["store"], "prefix": "/pynet/overlay"}},
        "host-local": {**common, "type": "host-local", "ipam": host_local,
                       "runtimeConfig": {"ips": ["10.91.0.77/24"]}, "capabilities": {"ips": True}},
        "static": {**common, "type": "static",
                   "ipam": {"type": "static", "addresses": [{"address": "10.92.0.5/24", "gateway": "10.92.0.1"},
                                                            {"address": "fd92::5/64"}],
                            "routes": [{"dst": "0.0.0.0/0", "gw": "10.92.0.1"}],
                            "dns": {"nameservers": ["10.92.0.1"], "domain": "fuzz.test"}}},
        "dnsname": {**common, "type": "dnsname", "domainName": "dns.fuzz", "capabilities": {"aliases": True},
                    "runtimeConfig": {"aliases": {"fuzznet": ["web", "web.alias"]}}, "prevResult": named},
    }


# Keys plugins read that the bases leave out (so that mutations also add them).
EXTRA_KEYS = ("vlan", "vlanTrunk", "preserveDefaultVlan", "macspoofchk", "disableContainerInterface", "mac",
              "cni.dev/valid-attachments", "prevResult", "ipam", "runtimeConfig", "capabilities", "args", "dns",
              "cniVersions", "conditionsV4", "dataDir", "store", "master", "underlay", "bridge", "domainName")
EXTRA_NESTED = (("ipam", "type"), ("ipam", "dataDir"), ("ipam", "resolvConf"), ("ipam", "subnet"),
                ("ipam", "rangeStart"), ("ipam", "gateway"), ("ipam", "addresses"), ("runtimeConfig", "ips"),
                ("runtimeConfig", "mac"), ("runtimeConfig", "portMappings"), ("runtimeConfig", "ipRanges"),
                ("runtimeConfig", "bandwidth"), ("runtimeConfig", "aliases"), ("runtimeConfig", "aliases", "fuzznet"),
                ("args", "cni"), ("prevResult", "interfaces"),
                ("prevResult", "ips"), ("prevResult", "cniVersion"), ("prevResult", "ips", 0, "gateway"))


def paths(obj, prefix=()) -> list[tuple]:
    """Every key path of a decoded JSON value (dict keys and list indices)."""
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            found.append(prefix + (key,))
            found += paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            found.append(prefix + (index,))
            found += paths(value, prefix + (index,))
    return found


def _nested(depth: int):
    value: object = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def hostile_values(lab: dict):
    """Values a configuration should never hold, and some it may (names and paths of the lab): one
    flat list, so that each is as likely as any other, plus generated text, numbers and containers."""
    names = ["eth0", "lo", "m0", lab["bridge"], "eth%d", "%d", "br%d", "a/b", "/", "..", ".", "../x", "a:b", "a b", " ",
             "\t", "x" * 16, "x" * 15, "é" * 8, "", "a\0b", "\ud800", "e\udcff", "\u200b", "eth0\n", "-", "IFNAME",
             "dns.fuzz.", "a" * 64, "-a", "a..b", *PLUGINS]  # as ipam.type: a plugin delegating to itself
    numbers = [0, -1, 1, 2, 67, 68, 4094, 4095, 65535, 65536, 2**24, 2**31 - 1, 2**31, 2**32, 2**63, 2**64 + 1,
               -2**63, 10**30, 1.5, -0.0, 1e308, 1e-308, True, False, None]
    cidrs = ["10.0.0.0/33", "10.0.0.300/24", "10.0.0.1", "10.0.0.0/8", "0.0.0.0/0", "::/0", "::/129", "fe80::1%eth0/64",
             "1.2.3.4/-1", "10.91.0.0/24", "10.91.0.5/24", "fd91::/120", "255.255.255.255/32", "224.0.0.1/4",
             "10.0.0.0/31", "10.0.0.0/32", "127.0.0.1/8", "10.91.0.0/16", "10.0.0.0/24/24", "a.b.c.d/8", "10.91.0.1",
             "fd91::1", "::", "10.244.0.0/16", "10.244.0.0/30", "0.0.0.0", "127.0.0.1", "10.95.0.1", "fd95::1",
             "224.0.0.251", "ff02::fb", "10.95.0.255", "192.168.60.1"]  # (dnsname: gateways it must refuse or use)
    macs = ["zz:zz", "zz:zz:zz:zz:zz:zz", "01:00:5e:00:00:01", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff",
            "02:42:0a:5b:00:0a", "0242.0a5b.000a", "02-42-0A-5B-00-0A", "02:42"]
    paths_ = [lab["data"], lab["resolv"], lab["fifo"], lab["store"], lab["state"], "/dev/zero", "/dev/urandom",
              "/dev/null", "/proc/self/status", "data", "../data", "../../x", "resolv.conf", lab["data"] + "\0x",
              lab["tmp"] + "/missing/dir", "relative/dir", "fifo"]
    shapes = [[], {}, [1], ["x"], {"a": 1}, [{}], [[]], [None], {"": ""}, [{"subnet": "10.93.0.0/24"}],
              [[{"subnet": "10.93.0.0/24"}]], {"type": "host-local"}, {"type": "static"}, ["eth0"],
              [{"hostPort": 1, "containerPort": 1}], [{"dst": "0.0.0.0/0"}], [{"address": "10.93.0.2/24"}],
              {"nameservers": ["1.1.1.1"]}, {"cni": {"ips": ["10.91.0.9"]}}, "tcp", "sctp", "l3", "private",
              "iptables", "nftables", "none", "firewalld", "etcd", "file", "1.1.0", "0.3.0", "9.9.9"]
    huge = ["a" * 10**5, "é" * 10**5, "1" * 5000, "a" * 700_000, ["x"] * 30000, [{"subnet": "10.0.0.0/24"}] * 3000,
            {f"k{n}": n for n in range(20000)}]
    deep = [_nested(20), _nested(63), _nested(70), _nested(200)]
    fixed = st.sampled_from(names + numbers + cidrs + macs + paths_ + shapes + huge + deep)
    text = st.text(max_size=40).filter(lambda s: not s.startswith("/") and ".." not in s)
    containers = st.lists(st.integers() | st.text(max_size=8), max_size=3) | st.dictionaries(
        st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=3)
    return st.one_of(fixed, fixed, fixed, fixed, text, containers, st.integers(),
                     st.floats(allow_nan=False, allow_infinity=False))


def hostile_env_values(lab: dict):
    return st.sampled_from(["", "eth0", "eth1", "eth%d", "a/b", "..", ".", "x" * 16, "a b", "e\udcff", "\udcff" * 4,
                            "c" * 300, "id-1;MAC=zz", "IgnoreUnknown=1;IP=10.91.0.5", "MAC=zz:zz:zz:zz:zz:zz",
                            "K8S_POD_NAME=web", "IgnoreUnknown=1;K8S_POD_NAME=a..b", "K8S_POD_NAME=" + "n" * 64,
                            "IgnoreUnknown=1;K8S_POD_NAME=a/b", "IgnoreUnknown=1;K8S_POD_NAME=" + "a." * 127 + "a",
                            "IgnoreUnknown=1;K8S_POD_NAME=fuzzbox;K8S_POD_NAMESPACE=x",
                            "IgnoreUnknown=1;MAC=02:42:0a:5b:00:aa", "IP=10.91.0.999", "K8S_POD_NAME=x;=;",
                            "IgnoreUnknown=1;IP=10.91.0.300,fd91::5", "relative/netns", "/dev/zero", lab["fifo"],
                            lab["tmp"], lab["tmp"] + "/nonexistent", "/proc/thread-self/ns/net",
                            lab["container"], "a" * 5000])  # not the container with an eth0: DEL deletes CNI_IFNAME


def base_env(lab: dict, plugin: str) -> dict:
    """The CNI_* environment of a working ADD of `plugin` in the lab."""
    return {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "base", "CNI_IFNAME": "eth0", "CNI_PATH": lab["bin"],
            "CNI_NETNS": lab["tuned"] if plugin in CHAINED else lab["container"], "CNI_ARGS": ARGS.get(plugin, "")}


ENV_KEYS = ("CNI_IFNAME", "CNI_CONTAINERID", "CNI_NETNS", "CNI_ARGS", "CNI_COMMAND", "CNI_PATH")


def _set(obj, path: tuple, value) -> None:
    """Set `path` in `obj` to `value`, creating or retyping containers on the way."""
    for key in path[:-1]:
        if isinstance(obj, dict):
            nxt = obj.get(key)
            if not isinstance(nxt, (dict, list)):
                nxt = obj[key] = {}
            obj = nxt
        else:
            obj = obj[key] if isinstance(key, int) and key < len(obj) else obj
            if not isinstance(obj, (dict, list)):
                return
    last = path[-1]
    if isinstance(obj, dict):
        obj[str(last) if not isinstance(last, str) else last] = value
    elif isinstance(obj, list) and isinstance(last, int) and last < len(obj):
        obj[last] = value


def _delete(obj, path: tuple) -> None:
    for key in path[:-1]:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and key < len(obj):
            obj = obj[key]
        else:
            return
    if isinstance(obj, dict):
        obj.pop(path[-1], None)
    elif isinstance(obj, list) and isinstance(path[-1], int) and path[-1] < len(obj):
        del obj[path[-1]]


@st.composite
def requests(draw, lab: dict, plugins=PLUGINS):
    """(plugin, command, env, stdin) for one hostile request, and a short description of what was mutated."""
    plugin = draw(st.sampled_from(plugins))
    config = copy.deepcopy(bases(lab)[plugin])
    command = draw(st.sampled_from(COMMANDS))
    env = {**base_env(lab, plugin), "CNI_COMMAND": command, "CNI_CONTAINERID": "fuzz-1"}
    if command in ("GC", "STATUS", "CHECK"):
        config["cniVersion"] = "1.1.0"
    what = [f"{plugin} {command}"]
    known = paths(config)
    own = [(k,) for k in config]  # the plugin's own keys: most bugs live there
    extra = [(k,) for k in EXTRA_KEYS] + list(EXTRA_NESTED)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["set", "set", "own", "own", "add", "delete", "env", "env"]))
        if kind in ("set", "own", "add"):
            path = draw(st.sampled_from({"set": known, "own": own, "add": extra}[kind]))
            value = copy.deepcopy(draw(hostile_values(lab)))  # later mutations may change it in place
            _set(config, path, value)
            what.append(f"{'/'.join(map(str, path))}={_short(value)}")
        elif kind == "delete":
            path = draw(st.sampled_from(known))
            _delete(config, path)
            what.append(f"del {'/'.join(map(str, path))}")
        elif kind == "env":
            key = draw(st.sampled_from(ENV_KEYS))
            if key == "CNI_COMMAND":
                value = draw(st.sampled_from(["", "ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION", "add", "FOO"]))
            elif key == "CNI_PATH":
                value = draw(st.sampled_from(["", lab["bin"], lab["tmp"], lab["tmp"] + "/nonexistent",
                                              f"{lab['tmp']}:{lab['bin']}", "relative"]))
            else:
                value = draw(hostile_env_values(lab))
            env[key] = value
            what.append(f"{key}={_short(value)}")
    _confine(config, lab)
    stdin = json.dumps(config).encode()
    if draw(st.integers(0, 9)) == 0:  # damage the bytes
        how = draw(st.sampled_from(["invalid utf-8", "bom", "truncate", "nul", "utf-16"]))
        at = draw(st.integers(0, max(0, len(stdin) - 1)))
        stdin = {"invalid utf-8": stdin[:at] + b"\xff\xfe" + stdin[at:], "bom": b"\xef\xbb\xbf" + stdin,
                 "truncate": stdin[:at], "nul": stdin[:at] + b"\0" + stdin[at:],
                 "utf-16": stdin.decode().encode("utf-16")}[how]
        what.append(f"bytes: {how}")
    return plugin, env, stdin, "; ".join(what)


def _confine(config, lab: dict) -> None:
    """Keep the defaults that live outside the test's directory out of reach: host-local without a
    dataDir uses /var/lib/cni/networks, the overlay without a store path /var/lib/pynet."""
    pending = [config]
    while pending:
        obj = pending.pop()
        if isinstance(obj, dict):
            ipam = obj.get("ipam")  # host-local reads it whatever its type says
            for section in (obj if obj.get("type") == "host-local" else None, ipam if isinstance(ipam, dict) else None):
                if section is not None and not section.get("dataDir"):
                    section["dataDir"] = lab["data"]
            pending += obj.values()
        elif isinstance(obj, list):
            pending += obj
    if isinstance(config, dict) and config.get("type") == "overlay":
        store = config.get("store")
        if store is None or (isinstance(store, dict) and store.get("type") == "file" and "path" not in store):
            config["store"] = {**(store or {"type": "file"}), "path": lab["store"]}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


WRONG_TYPES = ([], {}, [1], {"a": 1}, 0, -1, 2**64, 1.5, True, None, "", "x", "a/b", "eth%d", "a" * 100_000,
               _nested(70))


def sweep(lab: dict, everything: bool = False):
    """Every plugin, every top-level key of its configuration set to every value of WRONG_TYPES:
    (plugin, env, stdin, what) for ADD; `everything`: the extra keys plugins read and every nested
    key of the configuration too."""
    for plugin, base in bases(lab).items():
        env = {**base_env(lab, plugin), "CNI_CONTAINERID": "sweep"}
        where = [(k,) for k in base]
        if everything:
            where += [(k,) for k in EXTRA_KEYS] + list(EXTRA_NESTED) + [p for p in paths(base) if len(p) > 1]
        for path in dict.fromkeys(where):
            for value in WRONG_TYPES:
                config = copy.deepcopy(base)
                _set(config, path, copy.deepcopy(value))
                _confine(config, lab)
                yield plugin, env, json.dumps(config).encode(), f"{plugin} ADD; {'/'.join(map(str, path))}={_short(value)}"
