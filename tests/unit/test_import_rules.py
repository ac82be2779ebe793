"""The layers' import rules, read from the source: no import circles inside cni, and no layer imports
what it must not. Every import statement counts, the ones inside functions too (a lazy import is
still a dependency: it only moves the cost to the first call)."""

from __future__ import annotations

import ast
import os
import re

import pytest

import cni

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cni.__file__)))

# (importer, imported, why): no module of `importer` imports `imported` (packages include their modules).
FORBIDDEN = [
    ("cni.containers", "cni.plugins", "the container runtime runs plugins as executables, through cni.libcni"),
    ("cni.libcni", "cni.containers", "libcni serves any runtime; the container runtime builds on it"),
    ("cni.libcni", "cni.plugins", "libcni runs plugins as executables"),
    ("cni.plugins", "cni.cli", "plugins are below the CLI (`pynet overlay` lives in cni.cli.overlay)"),
    ("cni.plugins", "cni.libcni", "a plugin is run by libcni, never the other way round"),
    ("cni.plugins", "cni.containers", "a plugin knows nothing of the runtime that runs it"),
    ("cni.kernel", "cni.plugins", "the kernel interface serves the plugins"),
    ("cni.kernel", "cni.firewall", "the firewall builds on the kernel interface"),
    ("cni.spec", "cni.kernel", "the protocol core is sans-I/O"),
    ("cni.containers", "cni.firewall", "the container runtime does not reach into firewall state: a network's "
     "removal runs its plugins' GC, and each plugin releases its own"),
    ("cni.dns.message", "cni", "the DNS codec is sans-I/O, standard library only"),
    ("cni.dns", "cni.plugins", "the dnsname plugin uses the DNS server, never the other way round"),
]

# Circles the layers still have, each with the change that removes it; an entry that is no circle
# any more fails the test below, so that it is taken out.
KNOWN_CIRCLES: list[set[str]] = []


def modules() -> dict[str, tuple[str, bool]]:
    """Every module of cni: name -> (path, is a package)."""
    found = {}
    for directory, _, files in os.walk(os.path.join(ROOT, "cni")):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(directory, file)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                found[name.removesuffix(".__init__")] = (path, file == "__init__.py")
    return found


def imports(name: str, known: dict[str, tuple[str, bool]]) -> set[str]:
    """The modules of `known` that module `name` imports (`from P import M` of a module M is M)."""
    path, is_package = known[name]
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, known) for name in known}


def circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_finder_sees_a_circle_through_a_lazy_import_and_a_package():
    edges = {"cni.a": {"cni.b"}, "cni.b": {"cni.c"}, "cni.c": {"cni.a"}, "cni.d": {"cni.a"}, "cni.e": set()}
    assert circles(edges) == [{"cni.a", "cni.b", "cni.c"}]
    known = modules()
    assert {"cni.agent", "cni.agent.wire", "cni.spec.limits"} <= imports("cni.agent.client", known)
    assert "cni.agent.client" in imports("cni.skel", known)  # `from .agent.client import call` inside a method
    assert {"cni", "cni.context", "cni.spec.errors"} <= imports("cni.skel", known)  # `from . import __version__, context`


def test_cni_has_no_import_circles_but_the_known_ones():
    found = circles(graph())
    assert [c for c in found if c not in KNOWN_CIRCLES] == []
    assert [c for c in KNOWN_CIRCLES if c not in found] == [], "a known circle is gone: take it out of KNOWN_CIRCLES"


@pytest.mark.parametrize("importer, imported, why", FORBIDDEN, ids=[f"{a}-{b}" for a, b, _ in FORBIDDEN])
def test_layer_does_not_import(importer, imported, why):
    def within(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    edges = graph()
    assert any(within(m, importer) for m in edges), f"no package {importer}"
    offending = sorted(f"{m} imports {i}" for m, deps in edges.items() if within(m, importer)
                       for i in deps if within(i, imported))
    assert offending == [], why


# What only cni.kernel may touch: pyroute2, its messages (get_attr/get_nested) and the Netlink
# object's insides (its rtnl socket); cni.kernel.rtnl itself also serves cni.firewall (nfnetlink).
NETLINK_INSIDES = {"rtnl", "pyroute2", "get_attr", "get_nested"}


def netlink_use(name: str, known: dict[str, tuple[str, bool]]) -> list[str]:
    """What module `name` does with netlink that only cni.kernel may do."""
    path, _ = known[name]
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"imports {a.name}" for a in node.names if a.name.split(".")[0] == "pyroute2"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pyroute2":
            found.append(f"imports {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in NETLINK_INSIDES and name != "cni.firewall.nfnl":
            found.append(f"line {node.lineno}: .{node.attr}")
    if not name.startswith(("cni.kernel", "cni.firewall")):
        found += [f"imports {m}" for m in imports(name, known) if m == "cni.kernel.rtnl"]
    return found


def test_only_the_kernel_layer_speaks_netlink():
    known = modules()
    offending = {name: use for name in known if not (name == "cni.kernel" or name.startswith("cni.kernel."))
                 for use in [netlink_use(name, known)] if use}
    assert offending == {}, "cni.kernel.links offers typed operations for this"


def test_the_netlink_rule_sees_pyroute2_and_its_messages(tmp_path):
    source = tmp_path / "cni" / "sample.py"
    source.parent.mkdir()
    source.write_text("from .kernel import rtnl\n\ndef f(ipr):\n    from pyroute2 import IPRoute\n"
                      "    return ipr.rtnl.get_link(1), m.get_attr('X')\n")
    known = {"cni.sample": (str(source), False), "cni.kernel.rtnl": ("", False)}
    assert sorted(netlink_use("cni.sample", known)) == ["imports cni.kernel.rtnl", "imports pyroute2",
                                                        "line 5: .get_attr", "line 5: .rtnl"]


# Packages that go through cni.kernel's typed operations instead of running `ip` (issue 16, item 1).
NO_IP_COMMAND = ["cni.containers", "cni.cli"]


def ip_argvs(source: str) -> list[int]:
    """The lines of `source` with a list or tuple literal that starts with the `ip` command (an argv,
    however it is formatted: "ip", '/sbin/ip', split over lines)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and \
                    os.path.basename(first.value.strip()) == "ip":
                found.append(node.lineno)
    return sorted(found)


def test_the_ip_argv_finder_sees_any_formatting():
    source = 'run(["ip", "link"])\nrun(\n    [\n        \'/usr/sbin/ip\',\n        "-j", "route"])\nx = ("ip",)\n'
    assert ip_argvs(source) == [1, 3, 6]
    assert ip_argvs('run(["ipset", "list"]); msg = "ip link"; f(["nft", "ip"])') == []


@pytest.mark.parametrize("package", NO_IP_COMMAND)
def test_no_ip_command_runs_in(package):
    offending = []
    for name, (path, _) in sorted(modules().items()):
        if name == package or name.startswith(package + "."):
            with open(path) as f:
                offending += [f"{os.path.relpath(path, ROOT)}:{line}" for line in ip_argvs(f.read())]
    assert offending == [], "use cni.kernel's operations (cni.kernel.inventory ...), not the ip command"


def firewall_names() -> re.Pattern:
    """The names of pynet's nftables tables and sets and of its iptables chains, as the drivers declare
    them, that no other text uses: those with a digit, "_" or "-" in them (masq4, pm6ip, iso_self,
    PYNET-PORTS), "noicc" and the tables ("inet pynet"); not the plain words "iso" and "attached"."""
    from cni.firewall import iptables, nftables

    names = {n for n in nftables._DECLARED if re.search(r"[0-9_-]", n) or n == "noicc"}
    names |= {chain for _, chain, _, _ in iptables.CHAINS} | {nftables.TABLE, nftables.BRIDGE_TABLE}
    assert {"masq4", "pm4ip", "hairpin6", "iso_self", "noicc", "PYNET-PORTS", "inet pynet"} <= names
    return re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?![\w-])")


def literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal; an f-string's replacement fields read as "4" (so
    f"pm{family}" reads as the set name it builds)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            found.append((node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "4" for v in node.values)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def test_the_name_finder_sees_built_names_and_not_words():
    pattern = firewall_names()
    source = """name = f"pm{'6' if v6 else '4'}"; key = f"{name}ip: {ip}"\nchain = "PYNET-FORWARD"\n"""
    assert [pattern.search(text)[1] for _, text in literals(source) if pattern.search(text)] == ["pm4", "PYNET-FORWARD"]
    assert not any(pattern.search(text) for _, text in literals('m = "is attached to iso"; p = "pynet-pm4"'))


def test_only_the_firewall_drivers_name_their_sets_and_chains():
    pattern = firewall_names()
    offending = []
    for name, (path, _) in sorted(modules().items()):
        if name == "cni.firewall" or name.startswith("cni.firewall."):
            continue
        with open(path) as f:
            offending += [f"{os.path.relpath(path, ROOT)}:{line}: {found[1]}" for line, text in literals(f.read())
                          if (found := pattern.search(text))]
    assert offending == [], "backend names belong to the firewall drivers: ask the contract (cni.firewall.contract)"
