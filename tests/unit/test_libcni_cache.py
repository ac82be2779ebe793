"""The result cache in libcni's format; capability filtering; RuntimeConf validation."""

from __future__ import annotations

import json
import os

import pytest

from cni.libcni import CNIRuntimeError, NetworkConfig, ResultCache, RuntimeConf
from cni.libcni.cache import decode, encode
from cni.libcni.conf import plugin_stdin, runtime_config

RESULT = {"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.2/24"}], "dns": {}}

# A file written by libcni 1.2 (Go's encoding/json: struct field order, base64 config, omitempty).
GO_WRITTEN = (b'{"kind":"cniCacheV1","containerId":"c1","config":"eyJuYW1lIjoibiJ9","ifName":"eth0",'
              b'"networkName":"n","netns":"/run/netns/x","cniArgs":[["IgnoreUnknown","1"]],'
              b'"capabilityArgs":{"portMappings":[{"hostPort":80}]},"result":{"cniVersion":"1.0.0"}}')


def test_encode_is_libcnis_layout():
    data = encode("n", b'{"name":"n"}', "c1", "eth0", "/run/netns/x", [("IgnoreUnknown", "1")],
                  {"portMappings": [{"hostPort": 80}]}, {"cniVersion": "1.0.0"})
    assert data == GO_WRITTEN
    # empty optional fields are left out, as Go's omitempty does
    assert list(json.loads(encode("n", b"{}", "c1", "eth0"))) == ["kind", "containerId", "config", "ifName",
                                                                    "networkName"]


def test_decode_a_go_written_file():
    entry = decode(GO_WRITTEN)
    assert entry == {"container_id": "c1", "ifname": "eth0", "network": "n", "netns": "/run/netns/x",
                     "cni_args": [("IgnoreUnknown", "1")], "capability_args": {"portMappings": [{"hostPort": 80}]},
                     "config": b'{"name":"n"}', "result": {"cniVersion": "1.0.0"}}


@pytest.mark.parametrize("data, problem", [
    (b"{", "not valid JSON"), (b"[]", "not a JSON object"), (b'{"kind": "v2"}', "kind 'v2' is not"),
    (b'{"kind": "cniCacheV1", "config": "***"}', "config is not base64"),
])
def test_decode_errors_name_the_file(data, problem):
    with pytest.raises(CNIRuntimeError, match=f"^/x/f: {problem}"):
        decode(data, "/x/f")


def test_legacy_cache_is_a_bare_result():
    assert decode(json.dumps(RESULT).encode())["result"] == RESULT


def test_cache_files_in_place(tmp_path):
    cache = ResultCache(str(tmp_path))
    cache.write("net-a", "c1", "eth0", encode("net-a", b"{}", "c1", "eth0", result=RESULT))
    cache.write("net", "a-c1", "eth0", encode("net", b"{}", "a-c1", "eth0", result=RESULT))
    (tmp_path / "results" / "junk").write_text("not json")
    # "net-a" + "c1" and "net" + "a-c1" share a file name in libcni's scheme: the later write wins
    assert sorted(os.listdir(tmp_path / "results")) == ["junk", "net-a-c1-eth0"]
    assert [e["network"] for e in cache.attachments()] == ["net"]
    assert oct(os.stat(tmp_path / "results").st_mode & 0o777) == "0o700"
    assert oct(os.stat(tmp_path / "results" / "net-a-c1-eth0").st_mode & 0o777) == "0o600"
    assert cache.read("net", "a-c1", "eth0")["result"] == RESULT
    assert cache.read("net", "zz", "eth0") is None
    assert cache.attachments("other") == []
    cache.remove("net", "a-c1", "eth0")
    cache.remove("net", "a-c1", "eth0")  # twice is fine
    assert os.listdir(tmp_path / "results") == ["junk"]


def test_cache_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PYNET_CNI_CACHE_DIR", str(tmp_path))
    assert ResultCache().dir == f"{tmp_path}/results"
    monkeypatch.delenv("PYNET_CNI_CACHE_DIR")
    assert ResultCache().dir == "/var/lib/cni/results"


def test_capabilities_go_only_to_plugins_that_declare_them():
    rt = RuntimeConf("c1", "/run/netns/x", capability_args={"portMappings": [{"hostPort": 8080}], "mac": "c2:00:00:00:00:01",
                                                           "bandwidth": {"ingressRate": 1}})
    assert runtime_config({"type": "portmap", "capabilities": {"portMappings": True, "mac": False}},
                          rt.capability_args) == {"portMappings": [{"hostPort": 8080}]}
    assert runtime_config({"type": "bridge"}, rt.capability_args) == {}
    net = NetworkConfig.from_dict({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "x"}]})
    # a static runtimeConfig is replaced by the capabilities, as libcni's injectRuntimeConfig does
    plugin = {"type": "tuning", "capabilities": {"mac": True}, "runtimeConfig": {"static": 1}}
    conf = json.loads(plugin_stdin(net, plugin, rt, {"cniVersion": "1.0.0"}))
    assert conf == {**plugin, "name": "n", "cniVersion": "1.0.0", "prevResult": {"cniVersion": "1.0.0"},
                    "runtimeConfig": {"mac": "c2:00:00:00:00:01"}}
    assert json.loads(plugin_stdin(net, {"type": "y", "runtimeConfig": {"static": 1}}, rt))["runtimeConfig"] == {"static": 1}


@pytest.mark.parametrize("kwargs, problem", [
    ({"container_id": "bad id"}, "invalid container id"),
    ({"container_id": "c1", "ifname": "a-very-long-interface"}, "invalid interface name"),
    ({"container_id": "c1", "netns": "relative/ns"}, "invalid netns"),
    ({"container_id": "c1", "args": [("K", "a;b")]}, "invalid CNI_ARGS pair"),
    ({"container_id": "c1", "args": [("K=", "v")]}, "invalid CNI_ARGS pair"),
])
def test_runtime_conf_is_validated(kwargs, problem):
    with pytest.raises(CNIRuntimeError, match=problem):
        RuntimeConf(**kwargs)
