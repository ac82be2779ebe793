"""cni.skel.handle: one request in, one Response out, never an exception, never a traceback.

The plugin under test is a stub whose commands module (tests/unit/stub_commands.py) is pure
Python: ADD returns a fixed result, and a "raise" key in the configuration makes any command raise.
Every CNI_NETNS given to handle() here is either relative (rejected before any I/O) or under
/nonexistent (the open fails with ENOENT), so nothing real is ever opened.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import string
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cni.log
from cni.skel import Plugin, Response, handle
from cni.spec import LATEST, SUPPORTED
from tests.unit import stub_commands

STUB = "tests.unit.stub_commands"
PLUGIN = Plugin(name="stub", commands=STUB, summary="unit-test stub")
PLUGIN_NO_NETNS = Plugin(name="stub", commands=STUB, summary="unit-test stub", uses_netns=False)

NOWHERE = "/nonexistent"
DOCUMENTED_CODES = {1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 101, 102}
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")
SILENT_ON_SUCCESS = ("DEL", "CHECK", "GC", "STATUS")

ENV = {
    "ADD": {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": NOWHERE + "/c1", "CNI_IFNAME": "eth0"},
    "CHECK": {"CNI_COMMAND": "CHECK", "CNI_CONTAINERID": "c1", "CNI_NETNS": NOWHERE + "/c1", "CNI_IFNAME": "eth0"},
    "DEL": {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1", "CNI_NETNS": NOWHERE + "/c1", "CNI_IFNAME": "eth0"},
    "GC": {"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"},
    "STATUS": {"CNI_COMMAND": "STATUS"},
    "VERSION": {"CNI_COMMAND": "VERSION"},
}


def test_nonexistent_really_does_not_exist():
    # The netns check opens CNI_NETNS; everything here relies on this path not existing.
    assert not os.path.lexists(NOWHERE)


def config(version: str = "1.1.0", **keys) -> bytes:
    return json.dumps({"cniVersion": version, "name": "net1", "type": "stub", **keys}).encode()


@contextlib.contextmanager
def captured_log():
    """Route pynet's log into a buffer (debug off) for the duration, whatever logger() did before."""
    buffer = io.StringIO()
    log = logging.getLogger("pynet.unit-test-skel")
    log.handlers = [logging.StreamHandler(buffer)]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    saved_logger = cni.log._logger
    saved_debug = os.environ.pop("PYNET_DEBUG", None)
    cni.log._logger = log
    try:
        yield buffer
    finally:
        cni.log._logger = saved_logger
        if saved_debug is not None:
            os.environ["PYNET_DEBUG"] = saved_debug


def run(plugin: Plugin, env: dict, stdin: bytes) -> tuple[Response, str]:
    with captured_log() as log:
        response = handle(plugin, env, stdin)
    return response, log.getvalue()


def one_document(text: str):
    """The single JSON document `text` holds (whitespace around it allowed), or an assertion error."""
    decoder = json.JSONDecoder()
    stripped = text.strip()
    assert stripped, "stdout is empty"
    doc, end = decoder.raw_decode(stripped)
    assert end == len(stripped), f"more than one JSON document on stdout: {text!r}"
    return doc


def assert_error(response: Response, log: str, code: int | None = None) -> dict:
    assert response.exit_code == 1
    doc = one_document(response.stdout)
    assert list(doc) == ["cniVersion", "code", "msg", "details"]
    assert isinstance(doc["code"], int) and doc["code"] in DOCUMENTED_CODES
    assert isinstance(doc["msg"], str) and doc["msg"]
    assert isinstance(doc["details"], str)
    assert doc["cniVersion"] in SUPPORTED
    if code is not None:
        assert doc["code"] == code, doc
    for text in (response.stdout, response.stderr, log):
        assert "Traceback" not in text
    return doc


# ---- success ------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", SUPPORTED)
def test_add_prints_the_result_in_the_configs_version(version):
    response, log = run(PLUGIN_NO_NETNS, ENV["ADD"], config(version))
    assert response.exit_code == 0
    assert response.stderr == ""
    doc = one_document(response.stdout)
    assert json.dumps(doc) == json.dumps(stub_commands.RESULT.render(version))
    assert doc["cniVersion"] == version


@pytest.mark.parametrize("command", SILENT_ON_SUCCESS)
def test_other_commands_print_nothing(command):
    response, _ = run(PLUGIN_NO_NETNS, ENV[command], config("1.1.0"))
    assert response == Response(stdout="", stderr="", exit_code=0)


def test_del_with_a_missing_netns_succeeds():
    # The spec: DEL must succeed when the container is already gone.
    response, _ = run(PLUGIN, ENV["DEL"], config())
    assert response == Response()


def test_del_without_netns():
    env = dict(ENV["DEL"])
    del env["CNI_NETNS"]
    assert run(PLUGIN, env, config())[0] == Response()


@pytest.mark.parametrize("command", ["ADD", "CHECK"])
def test_add_check_with_a_missing_netns_is_code_3(command):
    stub_commands.calls.clear()
    response, log = run(PLUGIN, ENV[command], config())
    doc = assert_error(response, log, 3)
    assert NOWHERE in doc["details"]
    assert stub_commands.calls == []  # refused before the commands ran


def test_netns_path_too_long_is_code_4():
    env = dict(ENV["ADD"], CNI_NETNS=NOWHERE + "/" + "x" * 5000)
    assert_error(*run(PLUGIN, env, config()), code=4)


# ---- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("command,exception", [
    (command, exception)
    for command in ("ADD", "DEL", "CHECK", "GC", "STATUS")
    for exception in ("ValueError", "KeyError", "KeyboardInterrupt", "ZeroDivisionError", "return-none")
    if exception != "return-none" or command == "ADD"  # only ADD returns a result
])
def test_unexpected_exception_is_code_100(command, exception):
    response, log = run(PLUGIN_NO_NETNS, ENV[command], config(**{"raise": exception}))
    doc = assert_error(response, log, 100)
    assert doc["cniVersion"] == "1.1.0"
    assert "stub" in doc["msg"]
    if exception != "return-none":
        assert exception in doc["msg"]
    assert exception in log or exception == "return-none"  # logged, as one line


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "GC", "STATUS"])
def test_plugin_cni_error_is_passed_on(command):
    response, log = run(PLUGIN_NO_NETNS, ENV[command], config("1.1.0", **{"raise": "CNIError"}))
    doc = assert_error(response, log, 11)
    assert doc == {"cniVersion": "1.1.0", "code": 11, "msg": "busy", "details": "the stub says try again later"}


@pytest.mark.parametrize("version", SUPPORTED)
def test_error_carries_the_configs_version(version):
    response, log = run(PLUGIN_NO_NETNS, ENV["ADD"], config(version, **{"raise": "ValueError"}))
    assert assert_error(response, log, 100)["cniVersion"] == version


def test_real_logger_writes_no_traceback(capsys, monkeypatch):
    # The real logger (not the test's buffer): set up afresh so that it writes to the captured stderr.
    monkeypatch.delenv("PYNET_DEBUG", raising=False)
    monkeypatch.delenv("PYNET_LOG_FILE", raising=False)
    monkeypatch.setattr(cni.log, "_logger", None)
    pynet_logger = logging.getLogger("pynet")
    handlers = list(pynet_logger.handlers)
    try:
        response = handle(PLUGIN_NO_NETNS, ENV["ADD"], config(**{"raise": "ZeroDivisionError"}))
    finally:
        pynet_logger.handlers = handlers
    out, err = capsys.readouterr()
    assert_error(response, "", 100)
    assert out == ""
    assert "ZeroDivisionError" in err
    assert "Traceback" not in err + response.stdout + response.stderr


@pytest.mark.parametrize("env,stdin,code", [
    ({"CNI_COMMAND": "FOO"}, config(), 4),
    ({"CNI_COMMAND": "ADD"}, config(), 4),
    (dict(ENV["ADD"], CNI_CONTAINERID="../x"), config(), 4),
    (dict(ENV["ADD"], CNI_IFNAME="a" * 16), config(), 4),
    (dict(ENV["ADD"], CNI_NETNS="relative"), config(), 4),
    (dict(ENV["ADD"], CNI_ARGS="novalue"), config(), 4),
    (ENV["ADD"], b"", 6),
    (ENV["ADD"], b"{", 6),
    (ENV["ADD"], b"[]", 6),
    (ENV["ADD"], b"\xff\xfe", 6),
    (ENV["ADD"], config("9.9.9"), 1),
    (ENV["ADD"], b'{"name": "n", "type": "t"}', 7),
    (ENV["ADD"], config(name="a/b"), 7),
    (ENV["ADD"], config(type="../x"), 7),
    (ENV["ADD"], config(prevResult={"ips": [{"address": "bogus"}]}), 7),
    (ENV["CHECK"], config("0.3.1"), 1),
    (ENV["GC"], config("1.0.0"), 1),
    (ENV["STATUS"], config("0.4.0"), 1),
    (ENV["GC"], config("1.1.0", **{"cni.dev/valid-attachments": [1]}), 7),
])
@pytest.mark.parametrize("plugin", [PLUGIN, PLUGIN_NO_NETNS], ids=["netns", "no-netns"])
def test_protocol_errors(plugin, env, stdin, code):
    stub_commands.calls.clear()
    assert_error(*run(plugin, env, stdin), code=code)
    assert stub_commands.calls == []


def test_error_version_for_an_unsupported_config_is_the_latest():
    response, log = run(PLUGIN, ENV["ADD"], config("9.9.9"))
    assert assert_error(response, log, 1)["cniVersion"] == LATEST


def test_version_the_plugin_does_not_support():
    plugin = Plugin(name="stub", commands=STUB, versions=("1.0.0", "1.1.0"), uses_netns=False)
    response, log = run(plugin, ENV["ADD"], config("0.4.0"))
    doc = assert_error(response, log, 1)
    assert "1.0.0" in doc["details"] and "1.1.0" in doc["details"]
    assert run(plugin, ENV["ADD"], config("1.0.0"))[0].exit_code == 0


def test_missing_commands_module_is_code_100():
    plugin = Plugin(name="ghost", commands="tests.unit.no_such_module_here", uses_netns=False)
    assert_error(*run(plugin, ENV["ADD"], config()), code=100)


@pytest.mark.parametrize("command", ["ADD", "DEL", "VERSION"])
def test_deeply_nested_json_stdin(command):
    response, log = run(PLUGIN, ENV[command], b"[" * 100_000)
    if command == "VERSION":
        assert response.exit_code == 0
        assert one_document(response.stdout)["cniVersion"] == LATEST
    else:
        assert_error(response, log, 6)


# ---- VERSION and no command ----------------------------------------------------------------------

@pytest.mark.parametrize("stdin,asked", [(b"", LATEST), (b'{"cniVersion": "0.4.0"}', "0.4.0"),
                                         (b"garbage", LATEST), (config("1.0.0"), "1.0.0")])
def test_version(stdin, asked, monkeypatch):
    monkeypatch.delitem(sys.modules, STUB, raising=False)
    response, _ = run(PLUGIN, ENV["VERSION"], stdin)
    assert response.exit_code == 0
    assert response.stderr == ""
    doc = one_document(response.stdout)
    assert json.dumps(doc) == json.dumps({"cniVersion": asked, "supportedVersions": list(SUPPORTED)})
    assert STUB not in sys.modules  # VERSION never loads the commands module


def test_version_lists_the_plugins_versions():
    plugin = Plugin(name="stub", commands=STUB, versions=("0.4.0", "1.0.0"))
    doc = one_document(run(plugin, ENV["VERSION"], b"")[0].stdout)
    assert doc["supportedVersions"] == ["0.4.0", "1.0.0"]


def test_protocol_error_does_not_load_the_commands_module(monkeypatch):
    monkeypatch.delitem(sys.modules, STUB, raising=False)
    run(PLUGIN_NO_NETNS, ENV["ADD"], b"{")
    run(PLUGIN_NO_NETNS, {"CNI_COMMAND": "ADD"}, config())
    assert STUB not in sys.modules


def test_version_imports_neither_commands_nor_pyroute2():
    # In a fresh interpreter, since this one may have pyroute2 loaded by other tests.
    code = f"""
import sys
from cni.skel import Plugin, handle
r = handle(Plugin("stub", {STUB!r}), {{"CNI_COMMAND": "VERSION"}}, b'{{"cniVersion": "1.0.0"}}')
assert r.exit_code == 0, r
loaded = sorted(m for m in sys.modules if m.startswith(("pyroute2", {STUB!r})))
print(",".join(loaded))
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_installed_launcher_answers_version_with_the_least_imports(tmp_path):
    """A runtime calls VERSION for every plugin on every container: the launcher `pynet plugins
    install` writes answers it without site-packages, the json package, re or the CNI_* parser."""
    from cni.cli.plugins import install

    install(str(tmp_path), "reference")
    launcher = str(tmp_path / "bridge")
    with open(launcher) as f:
        assert f.readline().rstrip().endswith(" -IS")
    out = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", launcher], input=b'{"cniVersion":"0.4.0"}',
                         capture_output=True, env={"CNI_COMMAND": "VERSION"}, timeout=30)
    assert out.returncode == 0 and json.loads(out.stdout) == {"cniVersion": "0.4.0", "supportedVersions": list(SUPPORTED)}
    imported = {line.split("|")[-1].strip() for line in out.stderr.decode().splitlines() if "|" in line}
    assert "cni.plugins.bridge" in imported
    assert not imported & {"site", "json", "re", "cni.spec.env", "importlib", "cni.plugins.bridge.commands"}, imported


@pytest.mark.parametrize("env", [{}, {"CNI_COMMAND": ""}, {"CNI_COMMAND": "", "CNI_CONTAINERID": "/"}])
def test_no_command_prints_about(env):
    response, _ = run(PLUGIN, env, b"garbage")
    assert response.exit_code == 0
    assert response.stdout == ""
    assert response.stderr == PLUGIN.about + "\n"
    assert response.stderr.count("\n") == 1
    assert "stub" in response.stderr and "1.1.0" in response.stderr


# ---- anything goes ----------------------------------------------------------------------------------

ENV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
NAME_TEXT = st.one_of(ENV_TEXT, st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=20))

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

PREV_RESULTS = st.one_of(
    JSON_VALUES,
    st.sampled_from(SUPPORTED).map(lambda v: stub_commands.RESULT.render(v)),
    st.fixed_dictionaries({}, optional={
        "cniVersion": st.one_of(st.sampled_from(SUPPORTED), JSON_VALUES),
        "interfaces": st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries({"name": NAME_TEXT}), max_size=2)),
        "ips": st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries(
            {"address": st.one_of(st.sampled_from(["10.1.0.5/16", "fd00::5/64", "10.1.0.5"]), ENV_TEXT)},
            optional={"interface": st.integers(-1, 3), "gateway": JSON_VALUES}), max_size=2)),
        "routes": st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries(
            {"dst": st.sampled_from(["0.0.0.0/0", "::/0", "x"])},
            optional={"table": JSON_VALUES, "scope": st.integers(-1, 300), "mtu": JSON_VALUES}), max_size=2)),
        "dns": JSON_VALUES,
    }),
)


def _a_few(choices: dict, most: int = 3):
    """A dict of at most `most` of the keys of `choices`, each with a value from its strategy."""
    return st.lists(st.sampled_from(sorted(choices)), max_size=most, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: choices[name] for name in names}))


# Changes to a valid configuration; ABSENT removes the key.
ABSENT = object()
CONFIG_CHANGES = {
    "cniVersion": st.one_of(st.just(ABSENT), st.sampled_from(SUPPORTED + ("0.2.0", "9.9.9", "", "1.0")),
                            JSON_VALUES),
    "name": st.one_of(st.just(ABSENT), NAME_TEXT, JSON_VALUES),
    "type": st.one_of(st.just(ABSENT), ENV_TEXT, JSON_VALUES),
    "raise": st.sampled_from(sorted(stub_commands.RAISES) + ["return-none", "nothing"]),
    "prevResult": PREV_RESULTS,
    "ipMasq": st.one_of(st.booleans(), JSON_VALUES),
    "ipam": st.one_of(JSON_VALUES, st.fixed_dictionaries({"type": st.one_of(st.just("host-local"), ENV_TEXT)})),
    "dns": JSON_VALUES,
    "capabilities": st.one_of(JSON_VALUES, st.dictionaries(st.text(max_size=5), st.booleans(), max_size=2)),
    "args": JSON_VALUES,
    "runtimeConfig": JSON_VALUES,
    "cni.dev/valid-attachments": st.one_of(JSON_VALUES, st.lists(st.fixed_dictionaries(
        {"containerID": NAME_TEXT, "ifname": ENV_TEXT}), max_size=2)),
    "extra": JSON_VALUES,
}


def _changed(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        if value is ABSENT:
            out.pop(key, None)
        else:
            out[key] = value
    return out


NEAR_VALID_CONFIGS = st.builds(
    _changed,
    st.builds(lambda v: {"cniVersion": v, "name": "net1", "type": "stub"}, st.sampled_from(SUPPORTED)),
    _a_few(CONFIG_CHANGES),
)

VALID_CONFIGS = st.builds(
    lambda version, what: {"cniVersion": version, "name": "net1", "type": "stub", **({"raise": what} if what else {})},
    st.sampled_from(SUPPORTED),
    st.sampled_from([None, None, None, "return-none"] + sorted(stub_commands.RAISES)),
)

STDIN = st.one_of(
    VALID_CONFIGS.map(lambda c: json.dumps(c).encode()),
    st.binary(max_size=64),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    NEAR_VALID_CONFIGS.map(lambda c: json.dumps(c).encode()),
    NEAR_VALID_CONFIGS.map(lambda c: json.dumps(c, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    NEAR_VALID_CONFIGS.map(lambda c: json.dumps(c, indent=2).encode()),
)

BASE_ENV = {"CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0", "CNI_NETNS": NOWHERE + "/c1",
            "CNI_PATH": "/opt/cni/bin"}

# Changes to a valid environment; ABSENT removes the variable.
ENV_CHANGES = {
    "CNI_COMMAND": st.one_of(ENV_TEXT, st.just(ABSENT)),
    "CNI_CONTAINERID": st.one_of(st.just(ABSENT), NAME_TEXT),
    "CNI_IFNAME": st.one_of(st.just(ABSENT), ENV_TEXT),
    # Never a real file: missing absolute paths, or relative text that parse_env rejects.
    "CNI_NETNS": st.one_of(st.just(ABSENT), ENV_TEXT.map(lambda t: f"{NOWHERE}/{t}"),
                           ENV_TEXT.filter(lambda t: not t.startswith("/"))),
    "CNI_ARGS": st.one_of(st.just("IgnoreUnknown=1;K=V"), ENV_TEXT),
    "CNI_PATH": st.one_of(st.just(ABSENT), ENV_TEXT),
}

ENVS = st.builds(
    _changed,
    st.builds(lambda c: dict(BASE_ENV, CNI_COMMAND=c), st.sampled_from(COMMANDS)),
    _a_few(ENV_CHANGES, most=2),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=ENVS, stdin=STDIN, uses_netns=st.booleans())
def test_any_request_gets_one_well_formed_answer(env, stdin, uses_netns):
    netns = env.get("CNI_NETNS", "")
    assert not netns.startswith("/") or netns.startswith(NOWHERE + "/")
    plugin = PLUGIN if uses_netns else PLUGIN_NO_NETNS
    response, log = run(plugin, env, stdin)
    for text in (response.stdout, response.stderr, log):
        assert "Traceback" not in text
    command = env.get("CNI_COMMAND", "")
    event(f"{command if command in COMMANDS + ('',) else 'other'} exit {response.exit_code}")
    if response.stdout == "":
        assert response.exit_code == 0
        assert command in ("",) + SILENT_ON_SUCCESS
        if command == "":
            assert response.stderr == plugin.about + "\n"
        return
    doc = one_document(response.stdout)
    assert isinstance(doc, dict)
    if response.exit_code == 0:
        assert command in ("ADD", "VERSION")
        if command == "VERSION":
            assert list(doc) == ["cniVersion", "supportedVersions"]
        else:
            assert doc == stub_commands.RESULT.render(doc["cniVersion"])
    else:
        event(f"error code {assert_error(response, log)['code']}")
