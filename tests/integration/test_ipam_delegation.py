"""cni.ipam.delegate: running the IPAM plugin named by ipam.type, in-process or through CNI_PATH."""

from __future__ import annotations

import os

import pytest

from cni.ipam import delegate
from cni.spec import CNIError, parse_request
from tests.netns import install_plugins

@pytest.fixture(scope="module")
def pynet_bin(tmp_path_factory):
    """pynet's plugins under the reference names, for a CNI_PATH."""
    return install_plugins(tmp_path_factory.mktemp("cni-bin"))


def request(data_dir, cni_path, cid="c1", command="ADD", subnet="10.40.0.0/29", ipam_type="host-local"):
    stdin = (f'{{"cniVersion": "1.0.0", "name": "dnet", "type": "bridge", "ipam": {{"type": "{ipam_type}", '
             f'"dataDir": "{data_dir}", "ranges": [[{{"subnet": "{subnet}"}}]]}}}}').encode()
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0",
           "CNI_PATH": cni_path}
    return parse_request(env, stdin)


WAYS = ["in-process", "pynet executable", "reference executable"]


def use(way, monkeypatch, pynet_bin) -> str:
    """Set up one way of delegating; returns the CNI_PATH to use."""
    if way == "reference executable":
        if not os.path.exists("/usr/lib/cni/host-local"):
            pytest.skip("Go reference plugins not installed")
        monkeypatch.setenv("PYNET_IPAM_EXEC", "1")
        return "/usr/lib/cni"
    monkeypatch.setenv("PYNET_IPAM_EXEC", "1" if way == "pynet executable" else "0")
    return pynet_bin


@pytest.mark.parametrize("way", WAYS)
def test_add_del_the_same_every_way(way, monkeypatch, pynet_bin, tmp_path):
    cni_path = use(way, monkeypatch, pynet_bin)
    first = delegate.add(request(tmp_path, cni_path, "c1"))
    second = delegate.add(request(tmp_path, cni_path, "c2"))
    assert [ip.address for ip in first.ips + second.ips] == ["10.40.0.2/29", "10.40.0.3/29"]
    assert first.ips[0].gateway == "10.40.0.1" and first.interfaces == ()
    assert delegate.call(request(tmp_path, cni_path, "c1", "DEL"), "DEL") is None
    assert sorted(os.listdir(tmp_path / "dnet")) == ["10.40.0.3", "last_reserved_ip.0", "lock"]


@pytest.mark.parametrize("way", WAYS[:2])
def test_errors_keep_their_code_every_way(way, monkeypatch, pynet_bin, tmp_path):
    cni_path = use(way, monkeypatch, pynet_bin)
    delegate.add(request(tmp_path, cni_path, "c1", subnet="10.40.0.0/30"))
    with pytest.raises(CNIError) as failed:
        delegate.add(request(tmp_path, cni_path, "c2", subnet="10.40.0.0/30"))
    assert failed.value.code == 103 and "no free address in 10.40.0.0/30" in failed.value.msg
    assert failed.value.msg.startswith("host-local: ")


def test_missing_plugin_names_the_directories(tmp_path, monkeypatch):
    monkeypatch.setenv("PYNET_IPAM_EXEC", "1")
    with pytest.raises(CNIError) as failed:
        delegate.add(request(tmp_path, f"{tmp_path}/a:{tmp_path}/b"))
    assert failed.value.code == 7 and f"{tmp_path}/a:{tmp_path}/b" in failed.value.details
    with pytest.raises(CNIError) as no_path:
        delegate.add(request(tmp_path, "", ipam_type="dhcp"))
    assert no_path.value.code == 4 and "CNI_PATH" in no_path.value.msg


def test_failed_add_is_followed_by_del(tmp_path):
    """The spec: when a delegated ADD fails, the upper plugin runs DEL before giving up."""
    log = tmp_path / "calls"
    plugin = tmp_path / "failing-ipam"
    plugin.write_text("#!/bin/sh\necho \"$CNI_COMMAND $CNI_CONTAINERID\" >> " + str(log) + "\n"
                      "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                      "  echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"busy\",\"details\":\"\"}'; exit 1\nfi\n")
    plugin.chmod(0o755)
    with pytest.raises(CNIError) as failed:
        delegate.add(request(tmp_path, str(tmp_path), "c9", ipam_type="failing-ipam"))
    assert failed.value.code == 11 and failed.value.msg == "failing-ipam: busy"
    assert log.read_text().split("\n")[:2] == ["ADD c9", "DEL c9"]


def mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def test_cni_path_decides_which_host_local_runs(pynet_bin, tmp_path, monkeypatch):
    """What CNI_PATH resolves `host-local` to runs, for ADD and DEL: the Go reference's when it comes
    first. Its files show it ran: the reference creates a reservation 0644 and its lock 0750, pynet's
    host-local both 0600."""
    if not os.path.exists("/usr/lib/cni/host-local"):
        pytest.skip("Go reference plugins not installed")
    monkeypatch.delenv("PYNET_IPAM_EXEC", raising=False)
    cni_path, store = f"/usr/lib/cni:{pynet_bin}", tmp_path / "dnet"
    assert [ip.address for ip in delegate.add(request(tmp_path, cni_path, "c1")).ips] == ["10.40.0.2/29"]
    assert (store / "10.40.0.2").read_bytes() == b"c1\r\neth0"
    assert mode(store / "10.40.0.2") == 0o644 and mode(store / "lock") == 0o750
    (store / "lock").unlink()  # the next caller creates it again: whoever that is shows in its mode
    delegate.call(request(tmp_path, cni_path, "c1", "DEL"), "DEL")
    assert not (store / "10.40.0.2").exists() and mode(store / "lock") == 0o750
    # pynet's own first: in-process (no process at all), its own files
    (store / "lock").unlink()
    monkeypatch.setattr(delegate, "execute", lambda *a, **k: pytest.fail("pynet's own host-local was executed"))
    assert [ip.address for ip in delegate.add(request(tmp_path, f"{pynet_bin}:/usr/lib/cni", "c2")).ips] == \
        ["10.40.0.3/29"]
    assert mode(store / "10.40.0.3") == 0o600 and mode(store / "lock") == 0o600


def test_another_executable_called_host_local_is_executed(pynet_bin, tmp_path, monkeypatch):
    """A wrapper (a distribution's, a patched one) named host-local is run, not replaced by pynet's."""
    monkeypatch.delenv("PYNET_IPAM_EXEC", raising=False)
    log, wrapper = tmp_path / "calls", tmp_path / "bin" / "host-local"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\necho \"$CNI_COMMAND\" >> {log}\nexec {pynet_bin}/host-local\n")
    wrapper.chmod(0o755)
    cni_path = f"{wrapper.parent}:{pynet_bin}"
    delegate.add(request(tmp_path, cni_path, "c1"))
    delegate.call(request(tmp_path, cni_path, "c1", "DEL"), "DEL")
    assert log.read_text().split() == ["ADD", "DEL"]
