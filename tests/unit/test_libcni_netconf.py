"""Loading network configurations like libcni: files, order, versions, flags, clear errors."""

from __future__ import annotations

import json

import pytest

from cni.libcni import ConfigError, NetworkConfig, NetworkNotFound, load_file, load_network, load_networks
from cni.libcni.netconf import negotiate

BRIDGE = {"type": "bridge", "bridge": "cni0"}


def write(directory, name: str, obj) -> str:
    path = directory / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def conflist(name: str, version: str = "1.0.0", plugins=None, **extra) -> dict:
    return {"cniVersion": version, "name": name, "plugins": plugins or [BRIDGE], **extra}


def test_conflist_conf_and_json_in_lexical_order_first_file_wins(tmp_path):
    write(tmp_path, "30-b.conflist", conflist("b"))
    write(tmp_path, "10-a.conf", {"cniVersion": "0.4.0", "name": "a", "type": "bridge"})
    write(tmp_path, "20-c.json", {"cniVersion": "1.1.0", "name": "c", "type": "macvlan"})
    write(tmp_path, "40-a.conflist", conflist("a", plugins=[{"type": "other"}]))
    write(tmp_path, "50-ignored.txt", conflist("ignored"))
    (tmp_path / "60-dir.conflist").mkdir()
    nets = load_networks(str(tmp_path))
    assert [(n.name, n.path.rsplit("/", 1)[1]) for n in nets] == [("a", "10-a.conf"), ("c", "20-c.json"),
                                                                   ("b", "30-b.conflist")]
    assert load_network("a", str(tmp_path)).plugins == [{"cniVersion": "0.4.0", "name": "a", "type": "bridge"}]


def test_single_plugin_file_is_wrapped_like_conflistfromconf(tmp_path):
    path = write(tmp_path, "10-a.conf", {"cniVersion": "0.4.0", "name": "a", "type": "bridge", "ipMasq": True})
    net = load_file(path)
    assert (net.name, net.cni_version, net.path) == ("a", "0.4.0", path)
    # the bytes libcni caches: the generated list as Go marshals a map (sorted keys, compact)
    assert net.raw == (b'{"cniVersion":"0.4.0","name":"a","plugins":[{"cniVersion":"0.4.0","ipMasq":true,'
                       b'"name":"a","type":"bridge"}]}')


def test_conflist_keeps_its_bytes_and_flags(tmp_path):
    text = json.dumps(conflist("a", disableCheck=True, disableGC="true"), indent=2)
    net = load_file(write(tmp_path, "a.conflist", text))
    assert net.raw == text.encode() and net.disable_check and net.disable_gc
    assert not load_file(write(tmp_path, "b.conflist", conflist("b"))).disable_check


@pytest.mark.parametrize("version, versions, chosen", [
    ("1.0.0", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"], "1.1.0"),   # the highest the runtime speaks
    ("0.4.0", ["1.1.0", "2.0.0", "1.0.0"], "1.1.0"),             # versions above ours are skipped
    ("3.0.0", ["1.0.0"], "1.0.0"),                               # even the cniVersion
    ("", ["0.3.1", "0.4.0"], "0.4.0"),                           # cniVersions alone
    ("0.4.0", [], "0.4.0"),
])
def test_cniversions_negotiation(version, versions, chosen):
    assert negotiate({"cniVersion": version, "cniVersions": versions}, "f") == chosen


@pytest.mark.parametrize("obj, problem", [
    ({"name": "a", "plugins": [BRIDGE]}, "no cniVersion"),
    (conflist("a", "0.2.0"), "cniVersion '0.2.0' is not supported by pynet"),
    (conflist("a", cniVersions=["1.0"]), "cniVersions entry '1.0' is not a version"),
    (conflist("a", cniVersions="1.0.0"), "cniVersions must be a list"),
    ({"cniVersion": "1.0.0", "plugins": [BRIDGE]}, "no network \"name\""),
    (conflist("bad/name"), "invalid network name 'bad/name'"),
    (conflist("a", plugins=[{"bridge": "x"}]), "plugins[0] has no \"type\""),
    (conflist("a", plugins=[{"type": "../bin/evil"}]), "must be a plugin name, not a path"),
    (conflist("a", disableCheck="maybe"), "disableCheck must be true or false"),
    ({"cniVersion": "1.0.0", "name": "a", "plugins": []}, "\"plugins\" must be a non-empty list"),
    ([1, 2], "must hold one JSON object"),
])
def test_bad_conflists_name_the_file_and_the_problem(tmp_path, obj, problem):
    path = write(tmp_path, "10-x.conflist", obj)
    with pytest.raises(ConfigError) as failed:
        load_file(path)
    assert str(failed.value).startswith(f"{path}: ") and problem in str(failed.value)


def test_a_conflist_saved_as_conf_is_explained(tmp_path):
    path = write(tmp_path, "10-x.conf", conflist("a"))
    with pytest.raises(ConfigError, match=r"must be in a file named \*\.conflist"):
        load_file(path)


def test_broken_files(tmp_path):
    bad = write(tmp_path, "10-bad.conflist", "{not json")
    write(tmp_path, "20-good.conflist", conflist("good"))
    with pytest.raises(ConfigError, match="10-bad.conflist: not valid JSON"):
        load_networks(str(tmp_path))
    skipped = []
    assert [n.name for n in load_networks(str(tmp_path), on_error=skipped.append)] == ["good"]
    assert [e.path for e in skipped] == [bad]
    assert load_network("good", str(tmp_path)).name == "good"
    with pytest.raises(NetworkNotFound) as missing:
        load_network("other", str(tmp_path))
    assert "no network named 'other'" in str(missing.value) and "10-bad.conflist" in str(missing.value)
    # a broken file that names the network and comes first is that network's error
    write(tmp_path, "05-good.conflist", conflist("good", "9.9"))
    with pytest.raises(ConfigError, match="05-good.conflist: cniVersion '9.9'"):
        load_network("good", str(tmp_path))


def test_conf_dir_from_the_environment_and_a_missing_dir(tmp_path, monkeypatch):
    write(tmp_path, "a.conflist", conflist("a"))
    monkeypatch.setenv("PYNET_CNI_CONF_DIR", str(tmp_path))
    assert [n.name for n in load_networks()] == ["a"]
    assert load_networks(str(tmp_path / "nope")) == []
    with pytest.raises(NetworkNotFound, match=f"in {tmp_path}/nope"):
        load_network("a", str(tmp_path / "nope"))


def test_sibling_folder_plugins_unless_only_inlined(tmp_path):
    write(tmp_path, "a.conflist", conflist("a"))
    write(tmp_path, "b.conflist", conflist("b", loadOnlyInlinedPlugins=True))
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write(tmp_path / name, "20-tuning.conf", {"type": "tuning"})
        write(tmp_path / name, "10-portmap.conf", {"type": "portmap"})
    assert [p["type"] for p in load_network("a", str(tmp_path)).plugins] == ["bridge", "portmap", "tuning"]
    assert [p["type"] for p in load_network("b", str(tmp_path)).plugins] == ["bridge"]
    path = write(tmp_path, "c.conflist", {"cniVersion": "1.0.0", "name": "c", "loadOnlyInlinedPlugins": True})
    with pytest.raises(ConfigError, match="loadOnlyInlinedPlugins is true but there is no \"plugins\""):
        load_file(path)


def test_in_memory_networks():
    net = NetworkConfig.from_dict(conflist("m", "1.1.0"))
    assert (net.name, net.cni_version, net.path, json.loads(net.raw)["name"]) == ("m", "1.1.0", "", "m")
    single = NetworkConfig.from_dict({"cniVersion": "1.0.0", "name": "s", "type": "loopback"})
    assert [p["type"] for p in single.plugins] == ["loopback"]
    with pytest.raises(ConfigError, match="^network configuration: no network"):
        NetworkConfig.from_bytes(b'{"cniVersion": "1.0.0", "plugins": [{"type": "x"}]}')
