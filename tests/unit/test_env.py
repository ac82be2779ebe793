"""cni.spec.env.parse_env: the CNI_* variables, validated for each command (spec code 4)."""

from __future__ import annotations

import pytest

from cni.spec import CNIError, Invocation, parse_env

GOOD = {
    "CNI_CONTAINERID": "c0ffee-1",
    "CNI_NETNS": "/var/run/netns/blue",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin",
}

REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_PATH",),
    "STATUS": (),
    "VERSION": (),
}

ALL_VARS = ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH")


def env(command: str, **overrides) -> dict:
    out = {"CNI_COMMAND": command, **GOOD}
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def code4(environment: dict) -> CNIError:
    with pytest.raises(CNIError) as e:
        parse_env(environment)
    assert e.value.code == 4
    return e.value


def text_of(error: CNIError) -> str:
    return f"{error.msg} {error.details}"


# ---- commands and their required variables ---------------------------------------------------

@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_every_command_with_everything_set(command):
    inv = parse_env(env(command))
    assert inv.command == command


@pytest.mark.parametrize("command,name", [(c, n) for c, names in REQUIRED.items() for n in names])
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_each_required_variable(command, name, how):
    error = code4(env(command, **{name: None if how == "absent" else ""}))
    assert name in text_of(error)
    assert command in error.msg


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_all_required_variables_missing_are_all_named(command):
    environment = {"CNI_COMMAND": command}
    if not REQUIRED[command]:
        assert parse_env(environment).command == command
        return
    error = code4(environment)
    for name in REQUIRED[command]:
        assert name in error.msg
        assert name in error.details


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_optional_variables_may_be_absent(command):
    environment = {"CNI_COMMAND": command}
    for name in REQUIRED[command]:
        environment[name] = GOOD[name]
    assert parse_env(environment).command == command


@pytest.mark.parametrize("command", ["VERSION", "STATUS"])
def test_commands_needing_nothing(command):
    assert parse_env({"CNI_COMMAND": command}) == Invocation(command=command)


def test_version_ignores_even_bad_variables():
    assert parse_env({"CNI_COMMAND": "VERSION", "CNI_CONTAINERID": "/", "CNI_IFNAME": "a/b",
                      "CNI_NETNS": "rel", "CNI_ARGS": "novalue"}) == Invocation(command="VERSION")


@pytest.mark.parametrize("command", ["FOO", "add", "Add", "ADD ", " ADD", "DELETE", "VERSIONS", "1"])
def test_unknown_command(command):
    error = code4(env(command))
    assert "CNI_COMMAND" in text_of(error)


@pytest.mark.parametrize("environment", [{}, {"CNI_COMMAND": ""}, {"CNI_COMMAND": "", **GOOD},
                                         {"CNI_COMMAND": "", "CNI_CONTAINERID": "/", "CNI_ARGS": "x"}])
def test_no_command(environment):
    assert parse_env(environment) == Invocation(command="")


def test_full_invocation():
    inv = parse_env(env("ADD", CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=web-0",
                        CNI_PATH="/opt/cni/bin:/usr/lib/cni"))
    assert inv == Invocation(command="ADD", container_id="c0ffee-1", netns="/var/run/netns/blue",
                             ifname="eth0", args=(("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web-0")),
                             path=("/opt/cni/bin", "/usr/lib/cni"))


def test_accepts_any_mapping():
    class Env(dict):
        pass

    assert parse_env(Env(env("DEL"))).ifname == "eth0"


# ---- container ids -----------------------------------------------------------------------------

VALID_IDS = ["a", "Z", "0", "abc", "ABC123", "a_b", "a.b", "a-b", "0-", "9.", "x_", "a..b", "a__--..",
             "f" * 64, "a" * 255, "k8s_POD_web-0_default_1234-5678.1"]
INVALID_IDS = ["/", "a/b", "..", ".", "-a", ".a", "_a", "a b", " a", "a ", "a\tb", "a\nb", "a" * 256,
               "a" * 300, "a:b", "a;b", "a@b", "é", "aé", "a\u00a0b", "a*", "a/../b"]


@pytest.mark.parametrize("value", VALID_IDS)
@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK"])
def test_valid_container_ids(command, value):
    assert parse_env(env(command, CNI_CONTAINERID=value)).container_id == value


@pytest.mark.parametrize("value", INVALID_IDS)
@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "GC", "STATUS"])
def test_invalid_container_ids(command, value):
    error = code4(env(command, CNI_CONTAINERID=value))
    assert "CNI_CONTAINERID" in text_of(error)


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK"])
def test_empty_container_id(command):
    assert "CNI_CONTAINERID" in text_of(code4(env(command, CNI_CONTAINERID="")))


def test_long_invalid_id_is_cut_in_details():
    error = code4(env("ADD", CNI_CONTAINERID="a" * 300))
    assert len(error.details) < 300
    assert "300" in error.details


# ---- interface names ---------------------------------------------------------------------------

VALID_IFNAMES = ["eth0", "e", "a" * 15, "net1.100", "veth-1_x", "é" * 7 + "a", "ü" * 7, "-", "...",
                 "a.", "eth0@x"]
# '%' is the kernel's name template (eth%d becomes eth0, not eth%d); "\udcff" is the byte 0xff of a
# CNI_IFNAME that is not UTF-8, as os.environ decodes it
INVALID_IFNAMES = ["a" * 16, "a" * 40, "é" * 8, "ééééééééa", "€" * 6, "a/b", "/", "a:b", ":", "a b",
                   " eth0", "eth0 ", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", ".", "..", "%d", "eth%d", "a%",
                   "a\0b", "a\x7fb", "e\udcff", "\ud800"]


@pytest.mark.parametrize("value", VALID_IFNAMES)
def test_valid_ifnames(value):
    assert len(value.encode()) <= 15
    assert parse_env(env("ADD", CNI_IFNAME=value)).ifname == value


@pytest.mark.parametrize("value", INVALID_IFNAMES)
@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "GC"])
def test_invalid_ifnames(command, value):
    error = code4(env(command, CNI_IFNAME=value))
    assert "CNI_IFNAME" in text_of(error)


def test_ifname_limit_is_in_bytes_not_characters():
    assert parse_env(env("ADD", CNI_IFNAME="a" * 15)).ifname == "a" * 15
    code4(env("ADD", CNI_IFNAME="a" * 16))
    assert parse_env(env("ADD", CNI_IFNAME="é" * 7 + "a")).ifname  # 15 bytes
    error = code4(env("ADD", CNI_IFNAME="é" * 7 + "ab"))  # 9 characters, 16 bytes
    assert "16 bytes" in error.details


def test_ifname_that_is_not_utf8():
    # os.environ decodes undecodable bytes with surrogateescape
    error = code4(env("ADD", CNI_IFNAME="e\udcff" * 5))
    assert "UTF-8" in error.details and "CNI_IFNAME" in error.msg


def test_ifname_percent_names_the_kernel_template():
    assert "'%'" in code4(env("ADD", CNI_IFNAME="eth%d")).details


# ---- CNI_ARGS --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,pairs", [
    ("", ()),
    ("K=V", (("K", "V"),)),
    ("K=V;K2=V2", (("K", "V"), ("K2", "V2"))),
    ("FOO=BAR;ABC=123", (("FOO", "BAR"), ("ABC", "123"))),
    ("K=a=b", (("K", "a=b"),)),
    ("K==", (("K", "="),)),
    ("K=", (("K", ""),)),
    (";K=V;;K2=V2;", (("K", "V"), ("K2", "V2"))),
    (";;;", ()),
    ("K=1;K=2", (("K", "1"), ("K", "2"))),
    ("IgnoreUnknown=1;K8S_POD_NAMESPACE=default", (("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", "default"))),
])
def test_cni_args(text, pairs):
    assert parse_env(env("ADD", CNI_ARGS=text)).args == pairs


@pytest.mark.parametrize("text", ["novalue", "K=V;novalue", "novalue;K=V", "=V", "K=V;=x", " "])
@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "GC", "STATUS"])
def test_bad_cni_args(command, text):
    error = code4(env(command, CNI_ARGS=text))
    assert "CNI_ARGS" in text_of(error)


# ---- CNI_PATH ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,path", [
    ("/opt/cni/bin", ("/opt/cni/bin",)),
    ("/a:/b", ("/a", "/b")),
    ("/a::/b:", ("/a", "/b")),
    (":/a", ("/a",)),
    ("", ()),
    ("rel/dir:/abs", ("rel/dir", "/abs")),
])
def test_cni_path(text, path):
    assert parse_env(env("ADD", CNI_PATH=text)).path == path


def test_gc_path():
    assert parse_env({"CNI_COMMAND": "GC", "CNI_PATH": "/x:/y"}).path == ("/x", "/y")


# ---- CNI_NETNS ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["netns", "run/netns/x", "./x", "../x", "~/x", " /x"])
@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK"])
def test_relative_netns(command, value):
    error = code4(env(command, CNI_NETNS=value))
    assert "CNI_NETNS" in text_of(error)


@pytest.mark.parametrize("value", ["/var/run/netns/blue", "/proc/1234/ns/net", "/"])
def test_absolute_netns_is_kept(value):
    # parse_env does no I/O: whether the path exists is the skeleton's business.
    assert parse_env(env("ADD", CNI_NETNS=value)).netns == value


def test_del_without_netns():
    inv = parse_env(env("DEL", CNI_NETNS=None))
    assert inv.netns == ""
