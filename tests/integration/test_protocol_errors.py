"""Every plugin executable: VERSION, and each kind of bad input gets the right CNI error.

Runs the installed executables with env + stdin, as a runtime does. Each error must be exactly one
JSON document on stdout with the spec's keys, a non-zero exit, and no Python traceback anywhere.
"""

from __future__ import annotations

import json

import pytest

from cni.plugins import PLUGINS
from cni.spec import SUPPORTED
from tests.netns import plugin_path, run_plugin

pytestmark = pytest.mark.root

NAMES = sorted(PLUGINS)
GOOD = {"cniVersion": "1.0.0", "name": "net1", "type": "x"}


def conf(**changes) -> dict:
    out = {**GOOD, **changes}
    return {k: v for k, v in out.items() if v is not None}


def expect_error(run, code: int, *words: str) -> dict:
    assert run.returncode != 0, run.stdout
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    error = json.loads(run.stdout)  # exactly one JSON document
    assert set(error) == {"cniVersion", "code", "msg", "details"}
    assert error["code"] == code, error
    text = (error["msg"] + " " + error["details"]).lower()
    for word in words:
        assert word.lower() in text, error
    return error


@pytest.mark.parametrize("name", NAMES)
def test_version_lists_all_five(name):
    run = run_plugin(plugin_path(name), "VERSION", {"cniVersion": "1.0.0"})
    assert run.ok
    assert run.json == {"cniVersion": "1.0.0", "supportedVersions": list(SUPPORTED)}
    assert SUPPORTED == ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


@pytest.mark.parametrize("name", NAMES)
def test_no_command_prints_about(name):
    run = run_plugin(plugin_path(name), None)
    assert run.ok and run.stdout == ""
    assert name in run.stderr and "1.1.0" in run.stderr and len(run.stderr.strip().splitlines()) == 1


# (case id, environment changes, stdin, expected code, words the message must contain)
BAD_INPUT = [
    ("empty stdin", {}, b"", 6, ["stdin"]),
    ("not json", {}, b"{not json", 6, ["json"]),
    ("json array", {}, b"[1, 2]", 6, ["object"]),
    ("json string", {}, b'"hello"', 6, ["object"]),
    # accepted by Python's json, refused by the reference's decoder
    ("NaN", {}, b'{"cniVersion": "1.0.0", "name": "net1", "type": "x", "mtu": NaN}', 6, ["NaN"]),
    ("Infinity", {}, b'{"cniVersion": "1.0.0", "name": "net1", "type": "x", "mtu": Infinity}', 6, ["Infinity"]),
    ("1e999", {}, b'{"cniVersion": "1.0.0", "name": "net1", "type": "x", "mtu": 1e999}', 6, ["1e999"]),
    ("UTF-8 BOM", {}, b'\xef\xbb\xbf{"cniVersion": "1.0.0", "name": "net1", "type": "x"}', 6, ["BOM"]),
    ("lone surrogate", {}, b'{"cniVersion": "1.0.0", "name": "net1", "type": "x", "k": "\\udc00"}', 6, ["surrogate"]),
    ("nested 100 deep", {}, b'{"cniVersion": "1.0.0", "name": "net1", "type": "x", "k": ' + b"[" * 100 + b"]" * 100
     + b"}", 6, ["64 levels"]),
    ("over 1 MiB", {}, conf(padding="p" * (1 << 20)), 7, ["too large", "1048576"]),
    ("no cniVersion", {}, conf(cniVersion=None), 7, ["cniVersion"]),
    ("no name", {}, conf(name=None), 7, ["name"]),
    ("bad name", {}, conf(name="../etc"), 7, ["name"]),
    ("no type", {}, conf(type=None), 7, ["type"]),
    ("cniVersion 9.9.9", {}, conf(cniVersion="9.9.9"), 1, ["9.9.9", "1.1.0"]),
    ("command FOO", {"CNI_COMMAND": "FOO"}, conf(), 4, ["CNI_COMMAND"]),
    ("container id with /", {"CNI_CONTAINERID": "a/b"}, conf(), 4, ["CNI_CONTAINERID"]),
    ("container id ..", {"CNI_CONTAINERID": ".."}, conf(), 4, ["CNI_CONTAINERID"]),
    ("container id with space", {"CNI_CONTAINERID": "a b"}, conf(), 4, ["CNI_CONTAINERID"]),
    ("container id 300 chars", {"CNI_CONTAINERID": "a" * 300}, conf(), 4, ["CNI_CONTAINERID", "255"]),
    ("ifname 16 bytes", {"CNI_IFNAME": "e" * 16}, conf(), 4, ["CNI_IFNAME", "15"]),
    ("ifname with /", {"CNI_IFNAME": "eth/0"}, conf(), 4, ["CNI_IFNAME"]),
    ("ifname with %", {"CNI_IFNAME": "eth%d"}, conf(), 4, ["CNI_IFNAME", "%"]),
    ("ifname not UTF-8", {"CNI_IFNAME": "eth\udcff"}, conf(), 4, ["CNI_IFNAME", "UTF-8"]),
    ("missing ifname", {"CNI_IFNAME": ""}, conf(), 4, ["CNI_IFNAME"]),
    ("prevResult not an object", {}, conf(prevResult=[1]), 7, ["prevResult"]),
    ("prevResult bad address", {},
     conf(prevResult={"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.300/24"}]}), 7, ["prevResult", "address"]),
    ("CHECK on 0.3.1", {"CNI_COMMAND": "CHECK"}, conf(cniVersion="0.3.1"), 1, ["CHECK", "0.4.0"]),
    ("GC on 1.0.0", {"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"}, conf(), 1, ["GC", "1.1.0"]),
    ("STATUS on 0.4.0", {"CNI_COMMAND": "STATUS"}, conf(cniVersion="0.4.0"), 1, ["STATUS", "1.1.0"]),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case,env,stdin,code,words", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input(name, case, env, stdin, code, words, token):
    environ = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0",
               "CNI_NETNS": f"/run/netns/pnt-{token}-none", **env}
    if not isinstance(stdin, bytes):
        stdin = json.dumps(stdin).encode()
    run = run_plugin(plugin_path(name), None, env=environ, stdin=stdin)
    expect_error(run, code, *words)
