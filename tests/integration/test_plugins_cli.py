"""`pynet plugins list|install`: executables a runtime's CNI_PATH can point at."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cni.plugins import PLUGINS
from cni.spec import SUPPORTED
from tests.netns import run_plugin

PYNET = os.path.join(os.path.dirname(sys.executable), "pynet")


def pynet(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYNET, *argv], capture_output=True, text=True)


def test_list_as_json_names_every_plugin_with_its_versions():
    done = pynet("--format", "json", "plugins", "list")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["name"] for row in rows] == list(PLUGINS)
    assert all(row["versions"] == list(SUPPORTED) for row in rows)


def test_list_as_a_table():
    done = pynet("plugins", "list")
    assert done.returncode == 0
    header, *lines = done.stdout.splitlines()
    assert header.split()[:2] == ["PLUGIN", "EXECUTABLE"]
    assert [line.split()[0] for line in lines] == list(PLUGINS)


@pytest.mark.parametrize("names,prefix", [("reference", ""), ("pynet", "pynet-")])
def test_install_puts_runnable_plugins_into_a_dir(tmp_path, names, prefix):
    target = tmp_path / "bin"
    done = pynet("plugins", "install", "--dir", str(target), "--names", names)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(target)) == sorted(prefix + name for name in PLUGINS)
    for name in PLUGINS:
        executable = target / (prefix + name)
        assert os.access(executable, os.X_OK)
        run = run_plugin(str(executable), "VERSION", {"cniVersion": "1.1.0"})
        assert run.ok and run.json["supportedVersions"] == list(SUPPORTED)


def test_install_again_replaces_in_place(tmp_path):
    for _ in range(2):
        assert pynet("plugins", "install", "--dir", str(tmp_path), "--names", "reference").returncode == 0
    assert sorted(os.listdir(tmp_path)) == sorted(PLUGINS)  # no temporary files left


def test_bad_subcommand_is_one_clear_line_and_nonzero():
    done = pynet("plugins", "frobnicate")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "invalid choice" in done.stderr
