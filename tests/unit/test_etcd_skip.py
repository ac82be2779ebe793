"""Tests that need an etcd server skip, with the reason, where etcd is not installed."""

from __future__ import annotations

import pytest

from tests.integration.overlay_lab import Etcd, etcd_missing


def test_without_etcd_a_test_that_needs_it_skips_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no etcd there
    assert etcd_missing() == "etcd is not installed (apt-get install etcd-server)"
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install etcd-server"):
        Etcd(None, "192.168.77.1")
