"""cni.libcni and the Go reference libcni share one result cache: each DELs and CHECKs what the
other ADDed, with pynet's plugins on a simulated host. libcni (Debian golang-github-appc-cni-dev
1.1.2) speaks CNI up to 1.0.0 and writes no netns into the cache; it is driven by tests/interop/gocni.go,
built offline on first use (skipped, with the reason, where Go or libcni's sources are missing)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from cni.libcni import CNIConfig, RuntimeConf, load_network
from tests import interop

pytestmark = pytest.mark.root

PORTS = [{"hostPort": 8181, "containerPort": 80, "protocol": "tcp"}]
CNI_ARGS = [("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web")]


@pytest.fixture
def both(lab, tmp_path):
    """A network both runtimes load from one conf dir, one cache dir; `go(cmd, name)` runs libcni."""
    if interop.missing():
        pytest.skip(interop.missing())
    gocni = interop.build()
    conf_dir, cache_dir, state = tmp_path / "net.d", tmp_path / "cache", tmp_path / "state"
    conf_dir.mkdir()
    (conf_dir / "10-ionet.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "ionet", "plugins": [
            {"type": "bridge", "bridge": lab["bridge"], "isGateway": True, "ipMasq": True,
             "ipam": {"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": "10.92.0.0/24"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall"}]}, indent=2))
    cni = CNIConfig(path=[lab["cni_path"]], cache_dir=str(cache_dir), host_netns=lab["host"].path,
                    env={"PYNET_STATE_DIR": str(state)})

    def go(command: str, name: str, ports=PORTS) -> str:
        env = {**os.environ, "CNI_PATH": lab["cni_path"], "CNI_CACHE_DIR": str(cache_dir),
               "CNI_ARGS": ";".join(f"{k}={v}" for k, v in CNI_ARGS),
               "CAP_ARGS": json.dumps({"portMappings": ports}), "PYNET_STATE_DIR": str(state)}
        done = subprocess.run(["nsenter", f"--net={lab['host'].path}", gocni, command, str(conf_dir), "ionet",
                               f"id-{name}", lab[name].path, "eth0"], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"gocni {command}: {done.stderr}"
        return done.stdout

    return {**lab, "cni": cni, "net": load_network("ionet", str(conf_dir)), "go": go,
            "results": cache_dir / "results"}


def rt(lab, name, ports=PORTS) -> RuntimeConf:
    return RuntimeConf(f"id-{name}", lab[name].path, "eth0", args=CNI_ARGS, capability_args={"portMappings": ports})


def busy_host(both) -> dict:
    """Attach c2 first so the bridge and firewall table exist, then the host's state to come back to."""
    both["cni"].add(both["net"], rt(both, "c2", ports=[]))
    return both["host"].snapshot()


def test_go_deletes_what_pynet_added(both):
    host_before, container_before = busy_host(both), both["c1"].snapshot()
    result = both["cni"].add(both["net"], rt(both, "c1"))
    assert "8181" in both["host"].run("nft", "list", "ruleset").stdout
    both["go"]("check", "c1")  # libcni reads pynet's cache entry as the prevResult
    both["go"]("del", "c1")
    assert both["host"].snapshot() == host_before and both["c1"].snapshot() == container_before
    assert not (both["results"] / "ionet-id-c1-eth0").exists()
    assert result["ips"][0]["address"] == "10.92.0.3/24"


def test_pynet_deletes_what_go_added(both):
    host_before, container_before = busy_host(both), both["c1"].snapshot()
    printed = json.loads(both["go"]("add", "c1"))
    entry = json.loads((both["results"] / "ionet-id-c1-eth0").read_bytes())
    assert entry["kind"] == "cniCacheV1" and "netns" not in entry  # libcni 1.1 writes no netns
    cni, net = both["cni"], both["net"]
    # libcni 1.1 prints an empty "dns" in 1.0.0 results, which pynet (like libcni 1.2) leaves out
    assert cni.cached_result(net, rt(both, "c1")) == {k: v for k, v in printed.items() if v != {}}
    [attached] = [a for a in cni.cached_attachments("ionet") if a["container_id"] == "id-c1"]
    assert attached["cni_args"] == CNI_ARGS and attached["capability_args"] == {"portMappings": PORTS}
    assert attached["config"] == open(net.path, "rb").read()
    cni.check(net, rt(both, "c1"))
    cni.delete(net, rt(both, "c1"))
    assert both["host"].snapshot() == host_before and both["c1"].snapshot() == container_before
    assert not (both["results"] / "ionet-id-c1-eth0").exists()


def test_same_attachment_and_cache_either_way(both):
    """One container ADDed by libcni, another by pynet: the same kernel state and cache entry, but
    for the addresses, names and the netns pynet records (libcni >= 1.2 does too)."""
    printed = json.loads(both["go"]("add", "c1"))
    other = [{**PORTS[0], "hostPort": 8182}]
    result = both["cni"].add(both["net"], rt(both, "c2", other))
    go_entry = json.loads((both["results"] / "ionet-id-c1-eth0").read_bytes())
    py_entry = json.loads((both["results"] / "ionet-id-c2-eth0").read_bytes())
    assert list(py_entry) == list(go_entry)[:5] + ["netns"] + list(go_entry)[5:]
    assert py_entry["config"] == go_entry["config"] and py_entry["cniArgs"] == go_entry["cniArgs"]
    assert py_entry["capabilityArgs"] == {"portMappings": other} and go_entry["capabilityArgs"] == {"portMappings": PORTS}

    def shape(res):
        return ([(bool(i.get("sandbox")), sorted(i)) for i in res["interfaces"]],
                [(sorted(ip), ip.get("gateway")) for ip in res["ips"]], res.get("routes"), res["cniVersion"])

    assert shape(result) == shape(printed) == shape(go_entry["result"])

    def container(ns):
        links = ns.snapshot()["links"]
        return {name: (kind, master, [a.rsplit(".", 1)[0] for a in addrs]) for name, (kind, master, addrs) in links.items()}

    assert container(both["c1"]) == container(both["c2"])
    both["cni"].delete(both["net"], rt(both, "c1"))
    both["go"]("del", "c2", other)
    assert os.listdir(both["results"]) == []
