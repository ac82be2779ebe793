"""The test harness itself, on a simulated machine: the leak check blames a test only for what
carries its token, so namespace tests pass on a host where pynet is in use (a `table inet pynet` and
other tables in the root namespace) while other tests change that namespace at the same time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.netns import Netns, new_token, root_leftovers

pytestmark = pytest.mark.root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IN_USE = """
table inet pynet {
    set masq4 { type ipv4_addr; elements = { 10.88.0.2 }; }
    set iso { type ifname; elements = { "cni-podman0" }; }
    chain postrouting { type nat hook postrouting priority srcnat; ip saddr @masq4 masquerade; }
}
table ip unrelated { chain input { type filter hook input priority 0; tcp dport 22 accept; }; }
"""


@pytest.fixture
def machine(make_netns):
    """A simulated machine's root namespace where pynet is in use, with a firewall of its own."""
    root = make_netns("r")
    root.run("nft", "-f", "-", input=IN_USE)
    return root


def test_the_leak_check_sees_what_carries_the_token_and_nothing_else(machine, token):
    other = new_token()  # a test's token: what that test made in `machine`
    assert root_leftovers(other, machine.name) == []
    # what other tests and the machine's own pynet do meanwhile does not count
    machine.run("nft", "add element inet pynet masq4 { 10.88.0.3 }; add table ip6 elsewhere")
    machine.run("ip", "link", "add", f"pnb{new_token()}", "type", "bridge")
    assert root_leftovers(other, machine.name) == []
    # what the test left does: a link, an element of pynet's set, a chain, a table
    machine.run("ip", "link", "add", f"pnb{other}", "type", "bridge")
    machine.run("nft", f'add element inet pynet iso {{ "pnb{other}" }}; add chain ip unrelated c{other}; '
                       f"add table inet t{other}; add chain inet t{other} c")
    namespace = Netns(f"pnt-{token}-{other}")
    try:
        assert sorted(root_leftovers(other, machine.name)) == sorted([
            f"link pnb{other}", f'nft element inet pynet iso "pnb{other}"', f"nft chain ip unrelated c{other}",
            f"nft table inet t{other}", f"netns {namespace.name}"])
    finally:
        namespace.delete()


def test_namespace_tests_pass_on_a_machine_where_pynet_is_in_use(machine, tmp_path):
    """A sample of namespace tests, run by pytest inside the simulated machine, where the root
    namespace's firewall has pynet's table: they pass and leave that firewall as it was."""
    before = machine.run("nft", "list", "ruleset").stdout
    sample = ["tests/integration/test_bridge.py::test_add_check_del_every_version[nftables-1.0.0]",
              "tests/integration/test_bridge.py::test_failure_after_every_step_rolls_back[nftables-busy host-step2]",
              "tests/integration/test_loopback.py::test_add_runs_inside_a_simulated_host"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    done = subprocess.run(["ip", "netns", "exec", machine.name, sys.executable, "-m", "pytest", "-q", "-p", "no:xdist",
                           "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "nested"), *sample],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and f"{len(sample)} passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert machine.run("nft", "list", "ruleset").stdout == before
