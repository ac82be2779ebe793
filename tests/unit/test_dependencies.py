"""pyproject.toml declares exactly what the code imports: every third-party module that `cni/`
imports is a dependency and every dependency is imported by `cni/`; the test extra covers what
`tests/` and `bench/` import beyond that, and holds nothing they do not use."""

from __future__ import annotations

import ast
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
OURS = {"cni", "tests", "benchlab", "dnsname_add"}  # the repository's own top-level modules
PLUGINS = {"pytest-xdist"}  # used by `pytest -n auto` (.ci/run, the README), never imported
MODULE = {"pytest-xdist": "xdist", "PyYAML": "yaml"}  # distribution name -> module name, where they differ


def imported(*dirs: str) -> set[str]:
    """The third-party top-level modules the .py files under `dirs` import."""
    found = set()
    for d in dirs:
        for path in (ROOT / d).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - OURS - {"__future__"}


def declared(requirements: list[str]) -> dict[str, str]:
    """module name -> distribution name of each requirement."""
    names = [re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in requirements]
    return {MODULE.get(n, n.replace("-", "_").lower()): n for n in names}


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_dependencies_are_what_cni_imports():
    assert set(declared(PROJECT["dependencies"])) == imported("cni")


def test_the_test_extra_is_what_tests_and_benchmarks_import_beyond_that():
    runtime = set(declared(PROJECT["dependencies"]))
    test = declared(PROJECT["optional-dependencies"]["test"])
    assert imported("tests", "bench", "scripts") - runtime <= set(test)
    unused = {dist for module, dist in test.items() if dist not in PLUGINS} - {
        test[m] for m in imported("tests", "bench", "scripts") if m in test}
    assert not unused, f"declared in the test extra, imported nowhere: {sorted(unused)}"
