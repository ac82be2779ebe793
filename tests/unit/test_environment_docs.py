"""docs/environment.md names every PYNET_* variable that pynet, its tests and benchmarks read."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = re.compile(r"""["'](PYNET_[A-Z0-9_]+)""")  # a quoted name: what os.environ or context.env is asked


def test_every_variable_read_is_documented():
    read = {name for d in ("cni", "tests", "bench", "scripts") for path in (ROOT / d).rglob("*.py")
            for name in NAME.findall(path.read_text())}
    documented = set(re.findall(r"PYNET_[A-Z0-9_]+", (ROOT / "docs" / "environment.md").read_text()))
    assert read, "found no variable: the pattern is wrong"
    assert sorted(read - documented) == []
