"""cni.kernel.links.deleting_link: the veth is gone (both ends, names free) when the block ends; the
kernel's error is raised in the caller, whether a thread (a resident agent) or a forked child (a
one-shot plugin process) waits for the kernel's reply."""

from __future__ import annotations

import pytest

from cni.kernel import background
from cni.kernel.links import deleting_link
from cni.kernel.netns import entered
from cni.spec import CNIError


@pytest.fixture(autouse=True, params=["resident", "one-shot"])
def forks(request, monkeypatch) -> list[int] | None:
    """In one-shot mode, the children forked to delete (None: a resident process, no fork)."""
    if request.param == "resident":
        return None
    import os

    made, fork = [], os.fork
    monkeypatch.setattr(background, "_one_shot", True)
    monkeypatch.setattr(os, "fork", lambda: made.append(fork()) or made[-1])
    return made


def veth(host, container, host_end: str) -> None:
    host.run("ip", "link", "add", host_end, "type", "veth", "peer", "eth0", "netns", container.name)
    host.run("ip", "link", "set", host_end, "up")
    container.run("ip", "addr", "add", "10.9.0.2/24", "dev", "eth0")
    container.run("ip", "link", "set", "eth0", "up")


def test_both_ends_are_gone_and_the_names_free_when_the_block_ends(host, container, token, forks):
    host_end = f"pnt{token}h"
    for _ in range(3):  # the names are free at once: the same veth again, and deleted again
        veth(host, container, host_end)
        ran = []
        with entered(host.path):
            with deleting_link(container.path, "eth0"):
                ran.append(True)
        assert ran
        assert "eth0" not in container.links()
        assert host_end not in host.links()
        assert "10.9.0.2" not in container.run("ip", "-4", "addr").stdout
    assert forks is None or len(forks) == 3


def test_a_missing_link_or_namespace_is_nothing_to_delete(host, container):
    with entered(host.path):
        with deleting_link(container.path, "eth0"):
            pass
        with deleting_link(container.path + "-gone", "eth0"):
            pass
    assert set(container.links()) == {"lo"}


def test_no_namespace_deletes_nothing_here(host, container, token):
    host_end = f"pnt{token}h"
    veth(host, container, host_end)
    with entered(host.path):
        with deleting_link("", host_end):
            pass
    assert host_end in host.links() and "eth0" in container.links()


def test_the_kernels_refusal_is_raised(host, container):
    with entered(host.path):
        with pytest.raises(CNIError) as refused:
            with deleting_link(container.path, "lo"):  # the loopback device cannot be deleted
                pass
    assert "Operation not supported (95)" in str(refused.value)
    assert "lo" in container.links()


def test_a_path_that_is_no_namespace_is_a_clear_error_after_the_block(host, tmp_path):
    ran = []
    not_a_netns = tmp_path / "file"
    not_a_netns.write_text("")
    with entered(host.path):
        with pytest.raises(CNIError) as refused:
            with deleting_link(str(not_a_netns), "eth0"):
                ran.append(True)  # the firewall and IPAM work of a DEL still runs
    assert ran and "cannot enter the network namespace" in str(refused.value)
