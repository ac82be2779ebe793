"""cni.spec.config and cni.spec.request: decoding and validating the configuration on stdin."""

from __future__ import annotations

import json

import pytest

from cni.spec import (LATEST, SUPPORTED, Attachment, CNIError, IPConfig, Result, error_version,
                      parse_config, parse_request, version_answer)

ENV = {
    "ADD": {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/c1", "CNI_IFNAME": "eth0"},
    "CHECK": {"CNI_COMMAND": "CHECK", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/c1", "CNI_IFNAME": "eth0"},
    "DEL": {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0"},
    "GC": {"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"},
    "STATUS": {"CNI_COMMAND": "STATUS"},
    "VERSION": {"CNI_COMMAND": "VERSION"},
}


def conf(**keys) -> dict:
    out = {"cniVersion": "1.0.0", "name": "net1", "type": "bridge"}
    for key, value in keys.items():
        key = key.replace("__", "/").replace("_dash_", "-")
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def dumps(obj) -> bytes:
    return json.dumps(obj).encode()


def fails(code: int, env: dict, stdin: bytes) -> CNIError:
    with pytest.raises(CNIError) as e:
        parse_request(env, stdin)
    assert e.value.code == code, (e.value.code, e.value.msg, e.value.details)
    return e.value


def invalid(obj: dict) -> CNIError:
    with pytest.raises(CNIError) as e:
        parse_config(obj)
    assert e.value.code == 7, (e.value.code, e.value.msg, e.value.details)
    return e.value


# ---- decoding (code 6) -------------------------------------------------------------------------

@pytest.mark.parametrize("stdin", [b"", b" ", b"\n\t \r\n"])
@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "GC", "STATUS"])
def test_empty_stdin(command, stdin):
    fails(6, ENV[command], stdin)


@pytest.mark.parametrize("stdin", [b"{", b"not json", b"{'cniVersion': '1.0.0'}", b'{"a": 1,}', b"\xff\xfe\xfa",
                                   b'{"cniVersion": "1.0.0"} {}', b"\x00", b'{"a": "\xff"}', b"nul"])
def test_not_json(stdin):
    fails(6, ENV["ADD"], stdin)


@pytest.mark.parametrize("stdin,kind", [(b"[]", "array"), (b'[{"cniVersion": "1.0.0"}]', "array"),
                                        (b'"1.0.0"', "string"), (b"42", "number"), (b"4.2", "number"),
                                        (b"null", "null"), (b"true", "boolean")])
def test_json_not_an_object(stdin, kind):
    error = fails(6, ENV["ADD"], stdin)
    assert kind in error.details


# JSON that Python's json accepts and the reference's decoder (Go encoding/json) refuses
@pytest.mark.parametrize("stdin,words", [
    (b'{"cniVersion": "1.0.0", "name": "n", "type": "t", "mtu": NaN}', "NaN"),
    (b'{"cniVersion": "1.0.0", "name": "n", "type": "t", "mtu": Infinity}', "Infinity"),
    (b'{"cniVersion": "1.0.0", "name": "n", "type": "t", "mtu": -Infinity}', "Infinity"),
    (b'{"cniVersion": "1.0.0", "name": "n", "type": "t", "mtu": 1e999}', "1e999"),
    (b'\xef\xbb\xbf{"cniVersion": "1.0.0", "name": "n", "type": "t"}', "BOM"),
    (b'{"cniVersion": "1.0.0", "name": "n", "type": "t", "x": "\\ud800"}', "surrogate"),
    (b'{"cniVersion": "1.0.0", "name": "n", "type": "t", "x": ' + b"[" * 65 + b"]" * 65 + b"}", "64 levels"),
    (b"[" * 100000, "64 levels"),
])
def test_json_the_reference_refuses(stdin, words):
    error = fails(6, ENV["ADD"], stdin)
    assert words in str(error)


def test_nesting_within_the_limit_and_whole_surrogate_pairs_are_fine():
    stdin = b'{"cniVersion": "1.0.0", "name": "n", "type": "t", "x": ' + b"[" * 63 + b"]" * 63 + \
        b', "y": "\\ud83d\\ude00", "z": 1e308}'
    assert parse_request(ENV["ADD"], stdin).config.get("y") == "\U0001f600"


def test_a_configuration_larger_than_one_mib_is_refused_before_decoding():
    stdin = dumps(conf(padding="x" * (1 << 20)))
    error = fails(7, ENV["ADD"], stdin)
    assert "too large" in error.msg and str(1 << 20) in error.details


def test_error_messages_stay_short_whatever_the_input():
    error = invalid(conf(ipMasq="x" * 100000))
    assert len(error.msg) <= 500 and len(error.details) <= 2000


# ---- cniVersion ----------------------------------------------------------------------------------

def test_missing_cni_version():
    fails(7, ENV["ADD"], dumps(conf(cniVersion=...)))


@pytest.mark.parametrize("value", ["", None])
def test_empty_cni_version(value):
    fails(7, ENV["ADD"], dumps(conf(cniVersion=value)))


@pytest.mark.parametrize("value", [1, 1.0, True, False, 0, [], ["1.0.0"], {}, {"v": "1.0.0"}])
def test_non_string_cni_version(value):
    fails(7, ENV["ADD"], dumps(conf(cniVersion=value)))


@pytest.mark.parametrize("value", ["9.9.9", "0.1.0", "0.2.0", "1.0", "1.0.0 ", "v1.0.0", "2.0.0", "1.2.0"])
def test_unsupported_cni_version(value):
    error = fails(1, ENV["ADD"], dumps(conf(cniVersion=value)))
    for version in SUPPORTED:
        assert version in error.details


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_supported_version(version):
    request = parse_request(ENV["ADD"], dumps(conf(cniVersion=version)))
    assert request.config.cni_version == version


# ---- name, type and well-known keys (code 7) ---------------------------------------------------------

@pytest.mark.parametrize("value", [..., None, ""])
def test_missing_name(value):
    fails(7, ENV["ADD"], dumps(conf(name=value)))


@pytest.mark.parametrize("value", ["a/b", "..", ".x", "-x", "a b", "a" * 256, 1, True, [], {"n": "x"}, "ü"])
def test_invalid_name(value):
    fails(7, ENV["ADD"], dumps(conf(name=value)))


@pytest.mark.parametrize("value", ["a", "net-1", "my_net.v2", "0", "a" * 255])
def test_valid_name(value):
    assert parse_config(conf(name=value)).name == value


@pytest.mark.parametrize("value", [..., None, "", 1, [], {}, False])
def test_missing_or_non_string_type(value):
    fails(7, ENV["ADD"], dumps(conf(type=value)))


@pytest.mark.parametrize("value", ["a/b", "/usr/bin/bridge", "../bridge", ".", "..", "a\\b", "a\0b"])
def test_type_that_is_a_path(value):
    fails(7, ENV["ADD"], dumps(conf(type=value)))


@pytest.mark.parametrize("value", [1, 0, "true", "yes", [], {}])
def test_ip_masq_not_bool(value):
    error = invalid(conf(ipMasq=value))
    assert "ipMasq" in error.msg


@pytest.mark.parametrize("value", [True, False])
def test_ip_masq(value):
    assert parse_config(conf(ipMasq=value)).ip_masq is value
    assert parse_config(conf()).ip_masq is False
    assert parse_config({**conf(), "ipMasq": None}).ip_masq is False  # null is unset, as for the reference


@pytest.mark.parametrize("value", [[], "host-local", 1, True, [{"type": "host-local"}]])
def test_ipam_not_an_object(value):
    invalid(conf(ipam=value))


@pytest.mark.parametrize("value", [{"type": "a/b"}, {"type": "/opt/cni/bin/host-local"}, {"type": ".."},
                                   {"type": ""}, {"type": 1}, {"subnet": "10.0.0.0/8"}])
def test_bad_ipam_type(value):
    error = invalid(conf(ipam=value))
    assert "ipam.type" in error.msg


def test_ipam():
    ipam = {"type": "host-local", "subnet": "10.1.0.0/16"}
    assert dict(parse_config(conf(ipam=ipam)).ipam) == ipam
    assert parse_config(conf(ipam={})).ipam is None  # "ipam": {} means no IPAM
    assert parse_config(conf()).ipam is None


@pytest.mark.parametrize("value", [{"portMappings": 1}, {"portMappings": "true"}, {"a": True, "b": None},
                                   [], "portMappings", {"x": {}}])
def test_capabilities_not_bool(value):
    invalid(conf(capabilities=value))


def test_capabilities():
    caps = {"portMappings": True, "bandwidth": False}
    assert dict(parse_config(conf(capabilities=caps)).capabilities) == caps


@pytest.mark.parametrize("key", ["args", "runtimeConfig"])
@pytest.mark.parametrize("value", [[], "x", 1, True])
def test_args_and_runtime_config_must_be_objects(key, value):
    invalid(conf(**{key: value}))


def test_args_runtime_config_dns():
    nc = parse_config(conf(args={"cni": {"ips": ["10.1.0.9"]}}, runtimeConfig={"mac": "0a:58:00:00:00:01"},
                           dns={"nameservers": ["10.1.0.1"], "search": ["svc"]}))
    assert nc.args["cni"] == {"ips": ["10.1.0.9"]}
    assert nc.runtime_config["mac"] == "0a:58:00:00:00:01"
    assert nc.dns.nameservers == ("10.1.0.1",)
    assert nc.dns.search == ("svc",)


@pytest.mark.parametrize("value", [[], "x", {"nameservers": "10.0.0.1"}, {"domain": 1}])
def test_bad_dns(value):
    invalid(conf(dns=value))


def test_plugin_specific_keys_preserved():
    obj = conf(bridge="cni0", isGateway=True, mtu=1450, nested={"a": [1, 2, {"b": None}]})
    nc = parse_config(obj)
    assert nc.raw["bridge"] == "cni0"
    assert nc.get("isGateway") is True
    assert nc.get("mtu") == 1450
    assert nc.get("nested") == {"a": [1, 2, {"b": None}]}
    assert nc.get("absent") is None
    assert nc.get("absent", "dflt") == "dflt"
    assert dict(nc.raw) == obj
    with pytest.raises(TypeError):
        nc.raw["bridge"] = "other"  # read-only view


def test_request_from_stdin_keeps_stdin_and_raw():
    stdin = dumps(conf(bridge="cni0"))
    request = parse_request(ENV["ADD"], stdin)
    assert request.stdin == stdin
    assert request.config.get("bridge") == "cni0"
    assert (request.command, request.container_id, request.netns, request.ifname) == \
        ("ADD", "c1", "/var/run/netns/c1", "eth0")


# ---- prevResult ----------------------------------------------------------------------------------

PREV_040 = {
    "cniVersion": "0.4.0",
    "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/c1"}],
    "ips": [{"version": "4", "interface": 0, "address": "10.1.0.5/16", "gateway": "10.1.0.1"},
            {"version": "6", "interface": 0, "address": "fd00::5/64"}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "dns": {},
}


@pytest.mark.parametrize("value", [[], "x", 1, True, [PREV_040]])
def test_prev_result_not_an_object(value):
    error = invalid(conf(prevResult=value))
    assert "prevResult" in error.msg


@pytest.mark.parametrize("ip", [
    {"version": "4", "address": "10.1.0.5"},  # not CIDR
    {"version": "4", "address": "10.1.0.300/16"},
    {"version": "4", "address": "10.1.0.5/33"},
    {"version": "4", "address": "bogus/16"},
    {"version": "4", "address": 5},
    {"version": "4"},
    {"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.300"},
    {"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1/16"},
    {"version": "4", "address": "10.1.0.5/16", "interface": 1},  # only one interface
    {"version": "4", "address": "10.1.0.5/16", "interface": -1},
    {"version": "4", "address": "10.1.0.5/16", "interface": "0"},
])
def test_prev_result_bad_ip(ip):
    prev = dict(PREV_040, ips=[ip])
    error = invalid(conf(cniVersion="0.4.0", prevResult=prev))
    assert "prevResult.ips[0]" in error.msg


@pytest.mark.parametrize("prev", [
    dict(PREV_040, routes=[{"dst": "default"}]),
    dict(PREV_040, routes=[{"dst": "0.0.0.0/0", "gw": "x"}]),
    dict(PREV_040, routes=["0.0.0.0/0"]),
    dict(PREV_040, interfaces=[{"name": 1}]),
    dict(PREV_040, interfaces=[{"name": "x" * (1 << 20)}]),
    dict(PREV_040, interfaces=[{"name": "eth%d"}]),
    dict(PREV_040, interfaces=[{"name": "a/b"}]),
    dict(PREV_040, interfaces=["eth0"]),
    dict(PREV_040, ips=[{"version": "4", "address": "10.1.0.5/16"}, 7]),
    dict(PREV_040, dns={"nameservers": [1]}),
    dict(PREV_040, dns=[]),
    dict(PREV_040, cniVersion="9.9.9"),
    dict(PREV_040, cniVersion=1),
])
def test_prev_result_other_invalid(prev):
    invalid(conf(prevResult=prev))


@pytest.mark.parametrize("prev", [
    pytest.param(dict(PREV_040, cniVersion=False), id="cniVersion-false"),
    pytest.param(dict(PREV_040, cniVersion=0), id="cniVersion-0"),
    pytest.param(dict(PREV_040, cniVersion=[]), id="cniVersion-empty-list"),
    pytest.param(dict(PREV_040, cniVersion={}), id="cniVersion-empty-object"),
])
def test_prev_result_falsy_non_string_version_is_invalid(prev):
    invalid(conf(prevResult=prev))


@pytest.mark.parametrize("key,value", [
    pytest.param("interfaces", {}, id="interfaces-empty-object"),
    pytest.param("interfaces", "", id="interfaces-empty-string"),
    pytest.param("ips", 0, id="ips-zero"),
    pytest.param("ips", False, id="ips-false"),
    pytest.param("routes", {}, id="routes-empty-object"),
])
def test_prev_result_falsy_non_list_is_invalid(key, value):
    prev = {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.1.0.5/16"}], "routes": [],
            "dns": {}}
    parse_config(conf(prevResult=prev))  # valid as it is
    invalid(conf(prevResult=dict(prev, **{key: value})))


def test_prev_result_non_empty_non_list_is_invalid():
    for key, value in (("interfaces", {"a": 1}), ("ips", "x"), ("routes", 1)):
        invalid(conf(prevResult=dict(PREV_040, **{key: value})))


@pytest.mark.parametrize("config_version", ["1.0.0", "1.1.0"])
def test_prev_result_040_converted_up(config_version):
    nc = parse_config(conf(cniVersion=config_version, prevResult=PREV_040))
    rendered = nc.prev_result.render(nc.cni_version)
    assert json.dumps(rendered) == json.dumps({
        "cniVersion": config_version,
        "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/c1"}],
        "ips": [{"interface": 0, "address": "10.1.0.5/16", "gateway": "10.1.0.1"},
                {"interface": 0, "address": "fd00::5/64"}],
        "routes": [{"dst": "0.0.0.0/0"}],
    })


def test_prev_result_110_converted_down():
    prev = {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "mtu": 9000, "sandbox": "/var/run/netns/c1", "pciID": "0000:01:00.0"}],
        "ips": [{"interface": 0, "address": "fd00::5/64", "gateway": "fd00::1"}],
        "routes": [{"dst": "::/0", "gw": "fd00::1", "table": 100, "mtu": 1280}],
        "dns": {"nameservers": ["fd00::1"]},
    }
    nc = parse_config(conf(cniVersion="0.3.1", prevResult=prev))
    assert json.dumps(nc.prev_result.render(nc.cni_version)) == json.dumps({
        "cniVersion": "0.3.1",
        "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/c1"}],
        "ips": [{"version": "6", "interface": 0, "address": "fd00::5/64", "gateway": "fd00::1"}],
        "routes": [{"dst": "::/0", "gw": "fd00::1"}],
        "dns": {"nameservers": ["fd00::1"]},
    })


@pytest.mark.parametrize("version", SUPPORTED)
def test_prev_result_without_cni_version_takes_the_configs(version):
    prev = {"ips": [{"address": "10.1.0.5/16"}]}
    nc = parse_config(conf(cniVersion=version, prevResult=prev))
    assert nc.prev_result == Result(ips=(IPConfig(address="10.1.0.5/16"),))
    rendered = nc.prev_result.render(nc.cni_version)
    assert rendered["cniVersion"] == version
    assert ("version" in rendered["ips"][0]) == version.startswith("0.")


def test_no_prev_result():
    assert parse_config(conf()).prev_result is None
    assert parse_config(conf(prevResult=None)).prev_result is None


# ---- commands and versions -------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["0.3.0", "0.3.1"])
def test_check_before_040(version):
    error = fails(1, ENV["CHECK"], dumps(conf(cniVersion=version)))
    assert "CHECK" in error.msg


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0"])
def test_check_from_040(version):
    assert parse_request(ENV["CHECK"], dumps(conf(cniVersion=version))).command == "CHECK"


@pytest.mark.parametrize("command", ["GC", "STATUS"])
@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0", "1.0.0"])
def test_gc_status_before_110(command, version):
    error = fails(1, ENV[command], dumps(conf(cniVersion=version)))
    assert command in error.msg


@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_gc_status_110(command):
    request = parse_request(ENV[command], dumps(conf(cniVersion="1.1.0")))
    assert request.command == command
    assert request.config.cni_version == "1.1.0"


@pytest.mark.parametrize("command", ["ADD", "DEL"])
@pytest.mark.parametrize("version", SUPPORTED)
def test_add_del_every_version(command, version):
    assert parse_request(ENV[command], dumps(conf(cniVersion=version))).config.cni_version == version


def test_version_and_no_command_do_not_read_the_config():
    for env in (ENV["VERSION"], {}):
        request = parse_request(env, b"garbage")
        assert request.config is None
        assert request.stdin == b"garbage"


def test_environment_is_checked_before_the_config():
    fails(4, {"CNI_COMMAND": "ADD"}, b"garbage")
    fails(4, {"CNI_COMMAND": "FOO"}, b"")
    fails(4, dict(ENV["CHECK"], CNI_IFNAME="a/b"), dumps(conf(cniVersion="0.3.0")))


def test_decode_before_version():
    fails(6, ENV["GC"], b"[")


# ---- GC's valid attachments ---------------------------------------------------------------------

def test_valid_attachments():
    obj = conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": [
        {"containerID": "c1", "ifname": "eth0"},
        {"containerID": "c2", "ifname": "net1", "extra": 1},
    ]})
    request = parse_request(ENV["GC"], dumps(obj))
    assert request.config.valid_attachments == (Attachment("c1", "eth0"), Attachment("c2", "net1"))
    assert isinstance(request.config.valid_attachments, tuple)


def test_no_or_empty_valid_attachments():
    assert parse_request(ENV["GC"], dumps(conf(cniVersion="1.1.0"))).config.valid_attachments == ()
    obj = conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": []})
    assert parse_request(ENV["GC"], dumps(obj)).config.valid_attachments == ()


@pytest.mark.parametrize("value", [
    {}, "c1", 1, True,
    [["c1", "eth0"]],
    ["c1"],
    [{"containerID": "c1"}],
    [{"ifname": "eth0"}],
    [{"containerID": 1, "ifname": "eth0"}],
    [{"containerID": "c1", "ifname": None}],
    [{"containerID": "c1", "ifname": "eth0"}, None],
])
def test_malformed_valid_attachments(value):
    obj = conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": value})
    error = fails(7, ENV["GC"], dumps(obj))
    assert "valid-attachments" in error.msg


# ---- CNI_ARGS through the request -------------------------------------------------------------

def request_with_args(args: str):
    return parse_request(dict(ENV["ADD"], CNI_ARGS=args), dumps(conf()))


@pytest.mark.parametrize("flag", ["1", "true", "True", "TRUE"])
def test_cni_args_ignore_unknown(flag):
    request = request_with_args(f"IgnoreUnknown={flag};K8S_POD_NAME=web-0;IP=10.1.0.9")
    assert request.cni_args(known=("IP",)) == {"IP": "10.1.0.9"}
    assert request.cni_args() == {}


@pytest.mark.parametrize("args", ["K8S_POD_NAME=web-0;IP=10.1.0.9", "IgnoreUnknown=0;K8S_POD_NAME=web-0",
                                  "IgnoreUnknown=false;K8S_POD_NAME=web-0", "K8S_POD_NAME=web-0;IgnoreUnknown="])
def test_cni_args_unknown_key(args):
    request = request_with_args(args)
    with pytest.raises(CNIError) as e:
        request.cni_args(known=("IP",))
    assert e.value.code == 4
    assert "K8S_POD_NAME" in e.value.details
    assert "IP," not in e.value.details


def test_cni_args_only_known():
    request = request_with_args("IP=10.1.0.9;MAC=0a:58:00:00:00:01")
    assert request.cni_args(known=("IP", "MAC", "OTHER")) == {"IP": "10.1.0.9", "MAC": "0a:58:00:00:00:01"}
    assert request_with_args("").cni_args(known=("IP",)) == {}
    assert request_with_args("IgnoreUnknown=1").cni_args() == {}


# ---- VERSION and the version of errors ---------------------------------------------------------

@pytest.mark.parametrize("stdin,asked", [
    (b'{"cniVersion": "0.4.0"}', "0.4.0"),
    (b'{"cniVersion": "1.0.0", "name": "x"}', "1.0.0"),
    (b'{"cniVersion": "0.2.0"}', "0.2.0"),  # echoed even if unsupported
    (b"", LATEST),
    (b"   \n", LATEST),
    (b"garbage", LATEST),
    (b"\xff\xfe\x00", LATEST),
    (b"[]", LATEST),
    (b'"1.0.0"', LATEST),
    (b"{}", LATEST),
    (b'{"cniVersion": ""}', LATEST),
    (b'{"cniVersion": 1}', LATEST),
    (b'{"cniVersion": null}', LATEST),
])
def test_version_answer(stdin, asked):
    assert version_answer(stdin) == {"cniVersion": asked, "supportedVersions": list(SUPPORTED)}


@pytest.mark.parametrize("stdin", [
    b'{"cniVersion":"1.0.0"}', b' \r\n\t{"cniVersion": "0.4.0", "name": "x", "plugins": [{}]}\n ', b"",
    b"garbage", b'{"cniVersion": "1.0.0"} x', b'{"cniVersion": "1.0.0"}{}', b"\x0c{}\x0b", b"\xff\xfe\x00",
    '{"cniVersion": "\u00e9t\u00e9 \\" \\\\ \\u2603 \\n"}'.encode(), b'{"cniVersion": "\\ud800"}',
    b'\xef\xbb\xbf{"cniVersion": "1.0.0"}', '{"cniVersion": "0.3.1"}'.encode("utf-16"),
    b'{"cniVersion": NaN}', b'{"cniVersion": "1.0.0", "x": Infinity}', b'{"cniVersion": 1e999}',
    b'{"cniVersion": "1.0.0", "cniVersion": "0.4.0"}', b"[" * 100000 + b"]" * 100000, b"null", b"7",
    b'{"cniVersion": ["1.0.0"]}', b'{"cniVersion": "1.0.0\x00"}', b'{"cniVersion": "\x01"}',
])
def test_version_document_is_json_dumps_of_the_answer(stdin):
    """VERSION is written without the json package: the same text json.dumps writes, the same
    cniVersion json.loads finds (whatever stdin holds)."""
    from cni.spec.versions import version_document

    try:
        found = json.loads(stdin) if stdin.strip() else None
    except (ValueError, RecursionError):
        found = None
    asked = found.get("cniVersion") if isinstance(found, dict) else None
    answer = {"cniVersion": asked if isinstance(asked, str) and asked else LATEST, "supportedVersions": list(SUPPORTED)}
    assert version_answer(stdin) == answer
    assert version_document(stdin) == json.dumps(answer, indent=4) + "\n"
    assert version_document(stdin, ("1.0.0",)) == json.dumps({**answer, "supportedVersions": ["1.0.0"]}, indent=4) + "\n"


def test_version_answer_plugin_versions():
    assert version_answer(b"", ("1.0.0", "1.1.0")) == {"cniVersion": LATEST,
                                                       "supportedVersions": ["1.0.0", "1.1.0"]}
    assert list(version_answer(b"")) == ["cniVersion", "supportedVersions"]


@pytest.mark.parametrize("stdin,version", [
    (b'{"cniVersion": "0.3.1", "name": "x"}', "0.3.1"),
    (b'{"cniVersion": "1.0.0"}', "1.0.0"),
    (b'{"cniVersion": "9.9.9"}', LATEST),
    (b'{"cniVersion": 1}', LATEST),
    (b'{"cniVersion": ""}', LATEST),
    (b"{}", LATEST),
    (b"", LATEST),
    (b"garbage", LATEST),
    (b"\xff", LATEST),
    (b"[]", LATEST),
    (b"null", LATEST),
    (b"3", LATEST),
])
def test_error_version(stdin, version):
    assert error_version(stdin) == version


# ---- paths in a configuration (dataDir, resolvConf) ------------------------------------------

@pytest.mark.parametrize("value,words", [("", "not a path"), (5, "not a path"), ("/var/lib/x\0y", "NUL"),
                                         ("/" + "d" * 5000, "longer")])
def test_invalid_paths(value, words):
    from cni.spec.config import check_path

    with pytest.raises(CNIError) as e:
        check_path(value, "ipam.dataDir")
    assert e.value.code == 7 and "ipam.dataDir" in e.value.msg and words in e.value.details


@pytest.mark.parametrize("value", ["/var/lib/cni/networks", "data", "../x", "."])
def test_valid_paths(value):
    from cni.spec.config import check_path

    assert check_path(value, "ipam.dataDir") == value


# ---- MAC addresses (runtimeConfig.mac, CNI_ARGS MAC=, tuning's mac) --------------------------

@pytest.mark.parametrize("value,mac", [("0A-58-0A-01-00-05", "0a:58:0a:01:00:05"), ("0a58.0a01.0005", "0a:58:0a:01:00:05"),
                                       ("02:00:00:00:00:01", "02:00:00:00:00:01"), ("", ""), (None, "")])
def test_macs(value, mac):
    from cni.spec.mac import unicast_mac

    assert unicast_mac(value, "runtimeConfig.mac") == mac


@pytest.mark.parametrize("value,words", [("zz:zz", "not a MAC"), ("zz:zz:zz:zz:zz:zz", "not a MAC"), (5, "not a MAC"),
                                         ("01:00:5e:00:00:01", "unicast"), ("00:00:00:00:00:00", "unicast"),
                                         ("0a:58:0a:01:00:05\n", "not a MAC")])
def test_invalid_macs(value, words):
    from cni.spec.mac import unicast_mac

    with pytest.raises(CNIError) as e:
        unicast_mac(value, "CNI_ARGS MAC")
    assert e.value.code == 7 and words in e.value.details and "CNI_ARGS MAC" in e.value.details
