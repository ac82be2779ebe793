"""CNIConfig with scripted fake plugins: what each plugin is given, in which order, and the errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cni.libcni import CNIConfig, CNIRuntimeError, GCError, NetworkConfig, PluginError, PluginNotFound, RuntimeConf
from tests.runtime import fake

NETNS = "/run/netns/fake-c1"


@pytest.fixture
def lab(tmp_path):
    """Fake plugins a, b, c in a CNI_PATH; a CNIConfig logging their calls; a reader of the log."""
    path = fake.install(tmp_path / "bin", "a", "b", "c")
    log = tmp_path / "calls.jsonl"
    cni = CNIConfig(path=[str(tmp_path / "empty"), path], cache_dir=str(tmp_path / "cache"),
                    env={"FAKE_LOG": str(log), "FAKE_EXTRA": "yes"})

    def calls():
        lines = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return [json.loads(line) for line in lines]

    return {"cni": cni, "calls": calls, "tmp": tmp_path}


def network(version="1.0.0", *plugins, **flags) -> NetworkConfig:
    plugins = plugins or ({"type": "a"}, {"type": "b", "capabilities": {"portMappings": True}}, {"type": "c"})
    return NetworkConfig.from_dict({"cniVersion": version, "name": "fakenet", "plugins": list(plugins), **flags})


def test_add_chains_prev_results_and_caches_the_last(lab):
    cni, net = lab["cni"], network()
    rt = RuntimeConf("c1", NETNS, "eth1", args=[("IgnoreUnknown", "1"), ("K8S_POD_NAME", "p")],
                     capability_args={"portMappings": [{"hostPort": 80, "containerPort": 8080, "protocol": "tcp"}],
                                      "mac": "c2:00:00:00:00:01"})
    result = cni.add(net, rt)
    assert result == {"cniVersion": "1.0.0", "ips": [{"address": "10.9.0.2/24"}, {"address": "10.9.0.3/24"},
                                                     {"address": "10.9.0.4/24"}]}
    calls = lab["calls"]()
    assert [(c["type"], c["command"]) for c in calls] == [("a", "ADD"), ("b", "ADD"), ("c", "ADD")]
    assert "prevResult" not in calls[0]["conf"]
    assert calls[1]["conf"]["prevResult"]["ips"] == [{"address": "10.9.0.2/24"}]
    assert calls[2]["conf"]["prevResult"]["ips"] == result["ips"][:2]
    assert all(c["conf"]["name"] == "fakenet" and c["conf"]["cniVersion"] == "1.0.0" for c in calls)
    # capabilities only where declared
    assert [c["conf"].get("runtimeConfig") for c in calls] == [None, {"portMappings": rt.capability_args["portMappings"]}, None]
    assert calls[0]["env"] == {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": NETNS, "CNI_IFNAME": "eth1",
                               "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=p", "CNI_PATH": cni.path[0] + ":" + cni.path[1],
                               "FAKE_EXTRA": "yes"}
    cached = json.loads((lab["tmp"] / "cache" / "results" / "fakenet-c1-eth1").read_bytes())
    assert cached["kind"] == "cniCacheV1" and cached["result"] == result and cached["netns"] == NETNS
    assert cached["cniArgs"] == [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "p"]]
    assert cached["capabilityArgs"] == rt.capability_args
    assert cni.cached_result("fakenet", rt) == result
    assert [(a["container_id"], a["ifname"], a["netns"]) for a in cni.cached_attachments("fakenet")] == [("c1", "eth1", NETNS)]


def test_prev_result_is_converted_to_the_network_version(lab):
    net = network("0.4.0", {"type": "a", "fake_ip": "fd00::2/64"}, {"type": "b"})
    result = lab["cni"].add(net, RuntimeConf("c1", NETNS))
    calls = lab["calls"]()
    assert calls[1]["conf"]["prevResult"]["ips"] == [{"version": "6", "address": "fd00::2/64"}]
    assert result["cniVersion"] == "0.4.0" and result["dns"] == {}


def test_delete_in_reverse_with_the_cached_result_then_without(lab):
    cni, net, rt = lab["cni"], network(), RuntimeConf("c1", NETNS)
    result = cni.add(net, rt)
    lab["calls"]()
    cni.delete(net, rt)
    calls = lab["calls"]()
    assert [(c["type"], c["command"]) for c in calls] == [("c", "DEL"), ("b", "DEL"), ("a", "DEL")]
    assert all(c["conf"]["prevResult"] == result for c in calls)
    assert cni.cached_result("fakenet", rt) is None and cni.cached_attachments() == []
    cni.delete(net, rt)  # no cache: DEL still runs every plugin, without prevResult
    calls = lab["calls"]()
    assert [c["type"] for c in calls] == ["c", "b", "a"] and not any("prevResult" in c["conf"] for c in calls)


def test_delete_below_040_sends_no_prev_result(lab):
    cni, net, rt = lab["cni"], network("0.3.1"), RuntimeConf("c1", NETNS)
    cni.add(net, rt)
    lab["calls"]()
    cni.delete(net, rt)
    assert not any("prevResult" in c["conf"] for c in lab["calls"]())
    assert cni.cached_attachments() == []


def test_a_broken_cache_entry_does_not_block_del(lab):
    cni, net, rt = lab["cni"], network(), RuntimeConf("c1", NETNS)
    cni.add(net, rt)
    (lab["tmp"] / "cache" / "results" / "fakenet-c1-eth0").write_text("{broken")
    cni.delete(net, rt)
    assert [c["command"] for c in lab["calls"]()][-3:] == ["DEL"] * 3
    assert not (lab["tmp"] / "cache" / "results" / "fakenet-c1-eth0").exists()


def test_check_uses_the_cache_and_respects_disable_check_and_versions(lab):
    cni, rt = lab["cni"], RuntimeConf("c1", NETNS)
    net = network()
    with pytest.raises(CNIRuntimeError, match="no cached result for container c1"):
        cni.check(net, rt)
    result = cni.add(net, rt)
    lab["calls"]()
    cni.check(net, rt)
    calls = lab["calls"]()
    assert [(c["type"], c["command"]) for c in calls] == [("a", "CHECK"), ("b", "CHECK"), ("c", "CHECK")]
    assert all(c["conf"]["prevResult"] == result for c in calls)
    cni.check(network(disableCheck=True), rt)
    assert lab["calls"]() == []
    with pytest.raises(CNIRuntimeError, match="CHECK is not defined in CNI 0.3.1"):
        cni.check(network("0.3.1"), rt)


def test_a_failing_plugin_stops_the_chain_and_nothing_is_cached(lab):
    cni = lab["cni"]
    net = network("1.0.0", {"type": "a"}, {"type": "b", "fake": {"ADD": {"code": 11, "msg": "busy", "details": "later"}}},
                  {"type": "c"})
    with pytest.raises(PluginError) as failed:
        cni.add(net, RuntimeConf("c1", NETNS))
    e = failed.value
    assert (e.plugin, e.command, e.code, e.msg, e.details, e.network) == ("b", "ADD", 11, "busy", "later", "fakenet")
    assert str(e) == "plugin b failed (ADD) on network 'fakenet': [code 11] busy: later"
    assert [c["type"] for c in lab["calls"]()] == ["a", "b"]
    assert not (lab["tmp"] / "cache" / "results").exists()


@pytest.mark.parametrize("act, code, text", [
    ("garbage", 6, "printed something that is not a CNI result"),
    ("silent-fail", 999, "exited with status 2 without printing a CNI error: something broke"),
])
def test_plugins_that_do_not_speak_cni(lab, act, code, text):
    net = network("1.0.0", {"type": "a", "fake": {"ADD": act}})
    with pytest.raises(PluginError) as failed:
        lab["cni"].add(net, RuntimeConf("c1", NETNS))
    assert failed.value.code == code and text in str(failed.value)


def test_plugin_lookup_like_libcni(lab):
    cni = lab["cni"]
    with pytest.raises(PluginNotFound) as missing:
        cni.add(network("1.0.0", {"type": "nothere"}), RuntimeConf("c1", NETNS))
    assert f"{cni.path[0]}:{cni.path[1]}" in str(missing.value) and "'nothere'" in str(missing.value)
    with pytest.raises(PluginNotFound, match="not a path"):
        cni.find("../bin/a")
    assert cni.find("a") == os.path.join(cni.path[1], "a")


def test_default_path_from_the_environment(monkeypatch):
    monkeypatch.setenv("CNI_PATH", "/x:/y")
    assert CNIConfig().path == ["/x", "/y"]
    monkeypatch.delenv("CNI_PATH")
    assert CNIConfig().path == ["/opt/cni/bin"]


def test_gc_deletes_stale_attachments_then_gcs_each_plugin(lab):
    cni, net = lab["cni"], network("1.1.0")
    for cid in ("live", "stale"):
        cni.add(net, RuntimeConf(cid, f"/run/netns/{cid}", args=[("K", cid)]))
    lab["calls"]()
    cni.gc(net, valid=[("live", "eth0")])
    calls = lab["calls"]()
    assert [(c["type"], c["command"], c["env"].get("CNI_CONTAINERID")) for c in calls] == [
        ("c", "DEL", "stale"), ("b", "DEL", "stale"), ("a", "DEL", "stale"),
        ("a", "GC", None), ("b", "GC", None), ("c", "GC", None)]
    # the stale DEL is given what was cached: netns, CNI_ARGS
    assert calls[0]["env"]["CNI_NETNS"] == "/run/netns/stale" and calls[0]["env"]["CNI_ARGS"] == "K=stale"
    assert calls[3]["conf"]["cni.dev/valid-attachments"] == [{"containerID": "live", "ifname": "eth0"}]
    assert calls[3]["env"] == {"CNI_COMMAND": "GC", "CNI_PATH": ":".join(cni.path), "FAKE_EXTRA": "yes"}
    assert [a["container_id"] for a in cni.cached_attachments("fakenet")] == ["live"]


def test_gc_below_110_only_deletes_and_disable_gc_does_nothing(lab):
    cni = lab["cni"]
    net = network("1.0.0")
    cni.add(net, RuntimeConf("stale", NETNS))
    cni.gc(network("1.0.0", disableGC=True), valid=[])
    lab["calls"]()
    assert len(cni.cached_attachments()) == 1
    cni.gc(net, valid=[])
    assert [c["command"] for c in lab["calls"]()] == ["DEL"] * 3
    assert cni.cached_attachments() == []


def test_gc_goes_on_past_failures_and_reports_them(lab):
    cni = lab["cni"]
    net = network("1.1.0", {"type": "a", "fake": {"DEL": {"code": 5, "msg": "disk"}, "GC": {"code": 11, "msg": "busy"}}},
                  {"type": "b"})
    cni.add(net, RuntimeConf("s1", NETNS))
    cni.add(net, RuntimeConf("s2", NETNS))
    lab["calls"]()
    with pytest.raises(GCError) as failed:
        cni.gc(net, valid=[])
    assert len(failed.value.errors) == 3 and "stale attachment s1/eth0" in str(failed.value)
    assert [(c["type"], c["command"]) for c in lab["calls"]()] == [("b", "DEL"), ("a", "DEL"), ("b", "DEL"), ("a", "DEL"),
                                                                   ("a", "GC"), ("b", "GC")]
    assert len(cni.cached_attachments()) == 2  # a failed DEL keeps its cache entry for the next try


def test_status_and_version(lab):
    cni = lab["cni"]
    cni.status(network("1.1.0"))
    calls = lab["calls"]()
    assert [(c["type"], c["command"]) for c in calls] == [("a", "STATUS"), ("b", "STATUS"), ("c", "STATUS")]
    assert calls[0]["env"] == {"CNI_COMMAND": "STATUS", "CNI_PATH": ":".join(cni.path), "FAKE_EXTRA": "yes"}
    cni.status(network("1.0.0"))
    assert lab["calls"]() == []
    down = network("1.1.0", {"type": "a", "fake": {"STATUS": {"code": 50, "msg": "plugin not available"}}})
    with pytest.raises(PluginError) as failed:
        cni.status(down)
    assert (failed.value.code, failed.value.command) == (50, "STATUS")
    assert cni.version_info("a")["supportedVersions"][-1] == "1.1.0"
    assert cni.validate(network("1.0.0")) == ["portMappings"]
    with pytest.raises(PluginError, match="network 'fakenet' is 0.3.0"):
        cni.validate(network("0.3.0"))


def test_command_line(lab, tmp_path):
    """`python -m cni.libcni`, cnitool's job: ADD, list, DEL; errors are one line, no traceback."""
    (tmp_path / "net.d").mkdir()
    (tmp_path / "net.d" / "f.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "fakenet",
                                                                "plugins": [{"type": "a"}]}))
    env = {**os.environ, "CNI_PATH": ":".join(lab["cni"].path), "PYNET_CNI_CONF_DIR": str(tmp_path / "net.d"),
           "PYNET_CNI_CACHE_DIR": str(tmp_path / "cache"), "FAKE_LOG": str(tmp_path / "calls.jsonl"),
           "CNI_ARGS": "IgnoreUnknown=1", "CAP_ARGS": "{}"}

    def run(*argv):
        return subprocess.run([sys.executable, "-m", "cni.libcni", *argv], env=env, capture_output=True, text=True)

    added = run("add", "fakenet", "c1", NETNS)
    assert added.returncode == 0 and json.loads(added.stdout)["ips"] == [{"address": "10.9.0.2/24"}]
    assert run("list").stdout.split() == ["fakenet", "1.0.0", str(tmp_path / "net.d" / "f.conflist")]
    assert run("list", "fakenet").stdout.split() == ["c1", "eth0", NETNS]
    assert run("del", "fakenet", "c1", NETNS).returncode == 0 and run("list", "fakenet").stdout == ""
    missing = run("add", "nonet", "c1", NETNS)
    assert missing.returncode == 1 and missing.stderr.startswith("cni.libcni: no network named 'nonet'")
    assert "Traceback" not in missing.stderr and len(missing.stderr.splitlines()) == 1


def test_a_plugin_that_hangs_times_out(lab):
    cni = CNIConfig(path=lab["cni"].path, cache_dir=str(lab["tmp"] / "cache"), env=lab["cni"].env, timeout=0.5)
    with pytest.raises(PluginError) as failed:
        cni.add(network("1.0.0", {"type": "a", "fake": {"ADD": "sleep"}}), RuntimeConf("c1", NETNS))
    assert failed.value.code == 11 and "did not answer within 0.5 s" in str(failed.value)


def test_gc_takes_attachments_in_every_form(lab):
    cni, net = lab["cni"], network("1.1.0", {"type": "a"})
    for cid in ("p", "r", "d", "stale"):
        cni.add(net, RuntimeConf(cid, NETNS))
    cni.gc(net, valid=[("p", "eth0"), RuntimeConf("r", NETNS), {"containerID": "d", "ifname": "eth0"}])
    assert sorted(a["container_id"] for a in cni.cached_attachments("fakenet")) == ["d", "p", "r"]
    with pytest.raises(CNIRuntimeError, match="a valid attachment is"):
        cni.gc(net, valid=["p"])


def test_a_missing_host_netns_is_named(lab):
    cni = CNIConfig(path=lab["cni"].path, cache_dir=str(lab["tmp"] / "cache"), host_netns="/run/netns/no-such-host")
    with pytest.raises(CNIRuntimeError, match="host network namespace /run/netns/no-such-host does not exist"):
        cni.add(network(), RuntimeConf("c1", NETNS))
