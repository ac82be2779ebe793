"""Fixtures: throwaway namespaces with unique names, always removed, and a leak check."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import settings

from tests.netns import Netns, new_token, root_leftovers, state

# No timed tests: hypothesis's per-example deadline (200 ms) fails properties on a loaded machine
# (test_ranges' overlap check once took 515 ms under two parallel suites).
settings.register_profile("pynet", deadline=None)
settings.load_profile("pynet")


def pytest_configure(config):
    """One directory per test run where xdist workers share the VM tests' results (tests/vm/runner.py)."""
    if not hasattr(config, "workerinput") and "PYNET_VM_RUN" not in os.environ:
        os.environ["PYNET_VM_RUN"] = config._pynet_vm_run = tempfile.mkdtemp(prefix="pynet-vm-run.")


def pytest_unconfigure(config):
    made = getattr(config, "_pynet_vm_run", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop("PYNET_VM_RUN", None)


def pytest_assertrepr_compare(op, left, right):
    """Two namespace snapshots that differ: what changed, a line each (not the whole dicts)."""
    if op == "==" and state.is_snapshot(left) and state.is_snapshot(right):
        return ["namespace snapshots differ (-left +right):", *state.differences(left, right)]
    return None


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: creates network namespaces and links")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def token():
    """A token unique to this test; everything the test creates carries it in its name."""
    return new_token()


@pytest.fixture
def make_netns(token):
    """Factory of namespaces ("containers" or simulated "hosts"), removed after the test.

    After removal, a leak check fails the test if anything carrying its token is left in the root
    namespace (namespaces, links, nft tables, chains, sets, elements), or if an agent that served one
    of its namespaces left its socket or lock in the run directory. Nothing else there counts:
    the root namespace is the machine's, where pynet may be in use and other tests run at once
    (tests/netns/leaks.py).
    """
    made: list[Netns] = []

    def make(role: str = "c") -> Netns:
        ns = Netns(f"pnt-{token}-{role}{len(made)}")
        made.append(ns)
        return ns

    yield make
    agents_left = [path for ns in reversed(made) for path in ns.delete()]
    leftovers = root_leftovers(token, wait=10) + agents_left
    assert not leftovers, f"test leaked: {leftovers}"


@pytest.fixture
def container(make_netns):
    return make_netns("c")


@pytest.fixture
def host(make_netns):
    return make_netns("h")
