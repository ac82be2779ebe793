"""Fixtures for plugin tests on a simulated host."""

from __future__ import annotations

import pytest

from tests.netns import install_plugins


@pytest.fixture
def lab(make_netns, tmp_path, token):
    """A host namespace, two container namespaces, a CNI_PATH with pynet's plugins, a dataDir and a
    bridge name unique to the test."""
    host, c1, c2 = make_netns("h"), make_netns("a"), make_netns("b")
    return {"host": host, "c1": c1, "c2": c2, "cni_path": install_plugins(tmp_path / "bin"),
            "data": str(tmp_path / "ipam"), "bridge": f"pnb{token}"}
