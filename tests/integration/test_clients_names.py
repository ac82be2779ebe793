"""dnsname under containerd's `ctr run --cni` and `buildah run --network`, on a simulated host with
an upstream resolver behind it, beside a container that `pynet run` names "web" on the same network.

What the clients pass and do (tests/integration/clients.py sets them up): ctr passes an empty
CNI_ARGS, so its containers get no name, and writes no /etc/resolv.conf; buildah passes a
K8S_POD_NAME of its own making (the CNI container id, "buildah-buildah<number>"), not the working
container's name, and writes the host's name servers, not the result's. Neither passes aliases.
Given the gateway as name server the clients' own way (a mounted resolv.conf; `buildah from
--dns`), their containers resolve the network's names and upstream names through pynet's server;
their DEL leaves no record, and the server goes with the network's last container."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cni.dns import records
from tests.integration.clients import CLIENTS, GATEWAY, on_simulated_host, running
from tests.integration.simhost import SimHost
from tests.integration.upstream import ADDRESS as UPSTREAM, ANSWER
from tests.netns import wait_until

pytestmark = pytest.mark.root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What a container sees: its first name server, the addresses of "web" and of an upstream name
# (busybox's nslookup, through the search domain), and whether "web" answers a ping by name.
NAMES = r"""
lookup() { nslookup "$1" 2>&1 | { named=; while read -r key value; do
    case "$key" in Name:) named=1 ;; Address:) [ -n "$named" ] && echo -n "$value " ;; esac; done; }; }
{ while read -r key value; do [ "$key" = nameserver ] && { echo "nameserver $value"; break; }; done < /etc/resolv.conf
  echo "web $(lookup web)"
  echo "upstream $(lookup up.example)"
  ping -c1 -W3 web >/dev/null && echo "ping reached"
} > /share/$0.tmp && mv /share/$0.tmp /share/$0
i=0; while [ ! -e /share/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
"""


@pytest.fixture(params=sorted(CLIENTS))
def named(request, make_netns, tmp_path, token):
    """(client, pynet): the client with dnsname in its chain, and `pynet` on the same host, conf
    dir, state and run directories (one records directory, one server)."""
    (tmp_path / "upstream.conf").write_text(f"nameserver {UPSTREAM}\n")
    env = {"PYNET_STATE_DIR": str(tmp_path / "state"), "PYNET_RUN_DIR": str(tmp_path / "run"),
           "PYNET_DNS_RESOLV_CONF": str(tmp_path / "upstream.conf")}
    with on_simulated_host(request.param, make_netns, tmp_path, token, names=True, env=env) as client:
        upstream = subprocess.Popen(["ip", "netns", "exec", client.outside.name, sys.executable, "-m",
                                     "tests.integration.upstream"], cwd=ROOT)
        pynet = SimHost(client.host, tmp_path, token)
        pynet.env.update(env)  # (the same already, but the upstream: whoever starts the server passes it on)
        try:
            yield client, pynet
        finally:
            pynet.kill_all()
            upstream.kill()
            upstream.wait()


def test_client_containers_resolve_the_networks_names_and_upstream_and_leave_no_record(named):
    client, pynet = named
    where = str(client.tmp_path / "state" / "dns" / "records")
    pynet.pynet("run", "-d", "--name", "web", "--network", client.network, "--", "sleep", "300")
    web = pynet.json("inspect", "web")
    web_ip = web["result"]["ips"][0]["address"].split("/")[0]
    client.use_dns(GATEWAY)
    with running(client, ["c1"], NAMES) as seen:
        words = {key: sorted(set(value.split())) for key, value in seen["c1"].items()}  # (A, then AAAA's)
        assert words == {"nameserver": [GATEWAY], "web": [web_ip], "upstream": [ANSWER], "ping": ["reached"]}
        mine = [a for a in records.load(where).values() if a.containerId != web["id"]]
        assert len(mine) == 1 and mine[0].network == client.network, mine
        if isinstance(client, CLIENTS["containerd"][0]):
            assert mine[0].names == [], mine  # ctr: no name to give
        else:  # buildah: its own K8S_POD_NAME, the CNI container id, and that name resolves
            assert mine[0].names == [mine[0].containerId] and mine[0].containerId.startswith("buildah-"), mine
            found = pynet.sh("web", f"getent hosts {mine[0].names[0]}").split()
            assert found[0] == mine[0].addresses[0].split("/")[0], found
    assert [a.names for a in records.load(where).values()] == [["web"]]  # the client's DEL took its record
    server = pynet.dns_server()
    pynet.pynet("rm", "-f", "web")
    wait_until(lambda: pynet.dns_server() is None and not os.listdir(where), "the server to leave")
    assert server is not None and client.leftovers() == []
