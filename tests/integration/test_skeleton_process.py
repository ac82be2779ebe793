"""The skeleton as a process: what reaches stdout, stderr and the log, and what gets imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOM = "import sys; from cni.skel import Plugin; sys.exit(Plugin('boom', 'tests.integration.boom_commands').main())"
LOOPBACK = "import sys; from cni.plugins.loopback import main; sys.exit(main())"
CONF = b'{"cniVersion": "1.0.0", "name": "n", "type": "boom"}'


def run(code: str, env: dict, stdin: bytes, *flags: str) -> subprocess.CompletedProcess:
    environ = {"PATH": os.environ["PATH"], "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0",
               "CNI_NETNS": "/proc/1/ns/net-does-not-matter", **env}
    return subprocess.run([sys.executable, *flags, "-c", code], input=stdin, capture_output=True,
                          env=environ, cwd=ROOT)


@pytest.fixture
def ns_path(container):
    return container.path


@pytest.mark.root
def test_unexpected_exception_is_code_100_without_traceback(ns_path):
    done = run(BOOM, {"CNI_COMMAND": "ADD", "CNI_NETNS": ns_path}, CONF)
    assert done.returncode == 1
    error = json.loads(done.stdout)
    assert error["code"] == 100 and "ZeroDivisionError" in error["msg"] and "PYNET_DEBUG" in error["details"]
    assert b"Traceback" not in done.stdout + done.stderr


@pytest.mark.root
def test_debug_traceback_goes_to_the_log_file_only(ns_path, tmp_path):
    log = tmp_path / "pynet.log"
    done = run(BOOM, {"CNI_COMMAND": "ADD", "CNI_NETNS": ns_path, "PYNET_DEBUG": "1",
                      "PYNET_LOG_FILE": str(log)}, CONF)
    assert done.returncode == 1 and json.loads(done.stdout)["code"] == 100
    assert b"Traceback" not in done.stdout + done.stderr
    text = log.read_text()
    assert "Traceback" in text and "boom in the middle of ADD" in text


@pytest.mark.parametrize("env,stdin", [
    ({"CNI_COMMAND": "VERSION"}, b'{"cniVersion": "1.1.0"}'),
    ({"CNI_COMMAND": "FOO"}, CONF),
    ({"CNI_COMMAND": "ADD"}, b"not json"),
    ({"CNI_COMMAND": "ADD"}, b'{"cniVersion": "9.9.9", "name": "n", "type": "loopback"}'),
    ({"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "a/b"}, CONF),
], ids=["VERSION", "bad command", "bad json", "bad version", "bad container id"])
def test_version_and_protocol_errors_import_no_heavy_library(env, stdin):
    done = run(LOOPBACK, env, stdin, "-X", "importtime")
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.decode().splitlines()
                if line.startswith("import time:")}
    assert "cni.skel" in imported  # the measurement saw our imports
    heavy = sorted(m for m in imported if m.split(".")[0] in ("pyroute2", "netaddr", "yaml", "logging"))
    assert heavy == [], heavy
    assert "cni.plugins.loopback.commands" not in imported
