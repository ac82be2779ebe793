"""pynet's DNS server (cni.dns) on a simulated host: two networks on two bridges, containers on them,
an upstream resolver behind the host's uplink; real packets from the containers' namespaces."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cni.dns import daemon, records
from cni.dns import message as m
from cni.kernel.netns import entered
from tests.integration.dns_client import flip
from tests.netns import link_outside, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GW1, GW1_6, GW2 = "10.231.1.1", "fd31:1::1", "10.231.2.1"


def attach(host, container, bridge: str, index: int, addresses: list[str]) -> None:
    host.run("ip", "link", "add", f"vh{index}", "type", "veth", "peer", "name", "eth0", "netns", container.name)
    host.run("ip", "link", "set", f"vh{index}", "master", bridge, "up")
    for address in addresses:
        container.run("ip", "addr", "add", address, "dev", "eth0", "nodad")
    container.run("ip", "link", "set", "eth0", "up")


def attachment(network, cid, names, addresses, gateways) -> records.Attachment:
    return records.Attachment(network, cid, "eth0", names, addresses, gateways, "dns.podman")


@pytest.fixture
def dns(make_netns, tmp_path, monkeypatch):
    host, up, c1, c2, c3 = (make_netns(r) for r in "huabc")
    link_outside(host, up)  # the host's uplink: 192.0.2.1, the upstream resolver 192.0.2.2 behind it
    for bridge, addresses in (("br1", [f"{GW1}/24", f"{GW1_6}/64"]), ("br2", [f"{GW2}/24"])):
        host.run("ip", "link", "add", bridge, "type", "bridge")
        for address in addresses:
            host.run("ip", "addr", "add", address, "dev", bridge, "nodad")
        host.run("ip", "link", "set", bridge, "up")
    attach(host, c1, "br1", 1, ["10.231.1.2/24", "fd31:1::2/64"])
    attach(host, c2, "br1", 2, ["10.231.1.3/24"])
    attach(host, c3, "br2", 3, ["10.231.2.2/24"])
    where = str(tmp_path / "records")
    records.write(where, attachment("net1", "id-a", ["web", "www"], ["10.231.1.2/24", "fd31:1::2/64"], [GW1, GW1_6]))
    records.write(where, attachment("net1", "id-b", ["db"], ["10.231.1.3/24"], [GW1, GW1_6]))
    records.write(where, attachment("net2", "id-c", ["other"], ["10.231.2.2/24"], [GW2]))
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.53\nnameserver 192.0.2.2\n")  # the loopback one is skipped
    monkeypatch.setenv("PYNET_DNS_RESOLV_CONF", str(resolv))
    upstream = subprocess.Popen(["ip", "netns", "exec", up.name, sys.executable, "-m", "tests.integration.upstream"],
                                cwd=ROOT)
    assert daemon.ensure_running(host.path, where)
    assert not daemon.ensure_running(host.path, where)  # one server per namespace
    lab = {"host": host, "up": up, "c1": c1, "c2": c2, "c3": c3, "records": where, "resolv": resolv,
           "etc": []}
    wait_until(lambda: ask(c1, [GW1, "web", m.A])[0] != "timeout", "the server to answer")
    yield lab
    upstream.kill()
    upstream.wait()
    for directory in lab["etc"]:
        shutil.rmtree(directory, ignore_errors=True)
    daemon.stop(host.path)
    wait_until(lambda: daemon.running(host.path) is None, "the server to leave")


def ask(ns, *queries) -> list:
    done = ns.run(sys.executable, "-m", "tests.integration.dns_client", json.dumps(queries), cwd=ROOT, timeout=60)
    return json.loads(done.stdout)


def rr(rtype: int, value: str) -> list:
    return [rtype, value]


def reverse(address: str) -> str:
    return m.decode_name(m.reverse_name(address))


def test_containers_get_the_names_of_their_own_network_only(dns):
    c1, c3 = dns["c1"], dns["c3"]
    web, www6, db, ptr4, ptr6, other, other_fq, other_ptr = ask(
        c1, [GW1, "web", m.A], [GW1, "WWW.Dns.Podman", m.AAAA, "edns"], [GW1, "db.dns.podman", m.A, "tcp"],
        [GW1, reverse("10.231.1.3"), m.PTR], [GW1_6, reverse("fd31:1::2"), m.PTR, "tcp"],
        [GW1, "other", m.A], [GW1, "other.dns.podman", m.A, "edns"], [GW1, reverse("10.231.2.2"), m.PTR])
    assert web[:3:2] == [m.NOERROR, [rr(m.A, "10.231.1.2")]] and web[1] & m.AA
    assert www6[:3:2] == [m.NOERROR, [rr(m.AAAA, "fd31:1::2")]]
    assert db[:3:2] == [m.NOERROR, [rr(m.A, "10.231.1.3")]]  # over TCP
    assert ptr4[2] == [rr(m.PTR, "db.dns.podman.")] and ptr6[2] == [rr(m.PTR, "web.dns.podman.")]
    for answer in (other, other_fq, other_ptr):  # another network's names and addresses: not there
        assert answer[0] == m.NXDOMAIN and answer[1] & m.AA and answer[2] == []
    mine, theirs = ask(c3, [GW2, "other.dns.podman", m.A], [GW2, "web", m.A])
    assert mine[2] == [rr(m.A, "10.231.2.2")] and theirs[0] == m.NXDOMAIN
    with entered(dns["host"].path):  # what the plugin's CHECK asks, from the host
        assert daemon.probe(GW1, "web") == (m.NOERROR, ["10.231.1.2"])
        assert daemon.probe(GW1_6, "www", m.AAAA) == (m.NOERROR, ["fd31:1::2"])
        assert daemon.probe("10.231.7.1", "web", timeout=0.3) is None  # no server there


def test_the_c_library_resolves_through_it(dns):
    c1 = dns["c1"]
    etc = f"/etc/netns/{c1.name}"
    dns["etc"].append(etc)
    os.makedirs(etc)
    with open(f"{etc}/resolv.conf", "w") as f:
        f.write(f"nameserver {GW1}\nsearch dns.podman\noptions timeout:2 attempts:1\n")
    assert c1.run("getent", "hosts", "db").stdout.split() == ["10.231.1.3", "db.dns.podman"]
    assert c1.run("getent", "ahostsv6", "www").stdout.split()[0] == "fd31:1::2"
    assert c1.run("getent", "hosts", "other", check=False).returncode == 2  # not found


def test_it_listens_on_the_gateways_only(dns):
    host, up = dns["host"], dns["up"]
    listening = host.run("ss", "-Hlunt", "sport", "=", ":53").stdout.split("\n")
    local = sorted(line.split()[4] for line in listening if line.strip())
    assert local == sorted([f"{GW1}:53", f"{GW1}:53", f"[{GW1_6}]:53", f"[{GW1_6}]:53", f"{GW2}:53", f"{GW2}:53"])
    # a gateway address not up yet (IP_FREEBIND): listened on at once, answering once it is up
    records.write(dns["records"], attachment("net3", "id-d", ["later"], ["10.231.3.2/24"], ["10.231.3.1"]))
    wait_until(lambda: "10.231.3.1:53" in host.run("ss", "-Hlun").stdout, "a listener on 10.231.3.1", timeout=2)
    up.run("ip", "route", "add", "10.231.0.0/16", "via", "192.0.2.1")
    # the uplink's address has nothing on port 53; a gateway answers its network only, not the uplink side
    assert ask(up, ["192.0.2.1", "web", m.A], [GW1, "web", m.A], [GW1, "web", m.A, "tcp"]) == ["timeout"] * 3


def test_other_names_are_forwarded_and_a_dead_upstream_gives_servfail_in_time(dns):
    c1 = dns["c1"]
    (got,) = ask(c1, [GW1, "example.test", m.A, "edns"])
    assert got[:3:2] == [m.NOERROR, [rr(m.A, "192.0.2.99")]] and not got[1] & m.AA
    udp, tcp = ask(c1, [GW1, "big.example", m.A], [GW1, "big.example", m.A, "tcp"])
    assert udp[1] & m.TC and udp[2] == []  # the upstream's truncated answer, as it is: the client asks over TCP
    assert not tcp[1] & m.TC and len(tcp[2]) == 40  # asked again upstream over TCP
    dns["resolv"].write_text("nameserver 192.0.2.77\n")  # nobody there
    assert daemon.reload(dns["host"].path)
    time.sleep(0.3)
    udp, tcp = ask(c1, [GW1, "example.test", m.A], [GW1, "example.test", m.A, "tcp"])
    assert udp[0] == m.SERVFAIL and tcp[0] == m.SERVFAIL and udp[3] < 2.5 and tcp[3] < 2.5
    # queries waiting upstream do not hold up local answers
    sent, web = ask(c1, [GW1, "example.test", m.A, "send"], [GW1, "web", m.A])
    assert sent == "sent" and web[0] == m.NOERROR and web[3] < 0.5


def test_no_query_is_lost_while_records_change(dns):
    client = subprocess.Popen(["ip", "netns", "exec", dns["c1"].name, sys.executable, "-m",
                               "tests.integration.dns_client", "--steady", GW1, "db", "300"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline() == "go\n"
    for n in range(100):  # a network comes and goes, containers come and go: listeners and views change
        records.write(dns["records"], attachment(f"net{n % 3 + 3}", f"id-{n}", [f"n{n}"], [f"10.231.9.{n + 2}/24"],
                                                 [f"10.231.{9 + n % 2}.1"]))
        if n % 2:
            records.remove(dns["records"], f"net{(n - 1) % 3 + 3}", f"id-{n - 1}", "eth0")
        time.sleep(0.01)
    assert json.loads(client.communicate(timeout=60)[0]) == 300


def poll(ns, name: str, rcode: int, change) -> float:
    """Seconds from `change()` to the answer with `rcode` for `name`, as a client in `ns` polling sees it."""
    client = subprocess.Popen(["ip", "netns", "exec", ns.name, sys.executable, "-m", "tests.integration.dns_client",
                               "--poll", GW1, name, str(rcode), "5"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline() == "go\n"
    start = time.monotonic()
    change()
    answered = json.loads(client.communicate(timeout=30)[0])
    assert answered is not None, f"no answer {rcode} for {name}"
    return answered - start


def test_changes_are_answered_within_a_second_and_the_last_record_stops_it(dns):
    where, host = dns["records"], dns["host"]
    late = attachment("net1", "id-late", ["late"], ["10.231.1.9/24"], [GW1, GW1_6])
    assert poll(dns["c2"], "late.dns.podman", m.NOERROR, lambda: records.write(where, late)) < 1.0
    assert poll(dns["c2"], "late", m.NXDOMAIN, lambda: records.remove(where, "net1", "id-late", "eth0")) < 1.0
    # net2 gone: its gateway is no longer listened on; net1's still is
    records.remove(where, "net2", "id-c", "eth0")
    wait_until(lambda: GW2 not in host.run("ss", "-Hlun").stdout, "net2's listener to close", timeout=2)
    pid = daemon.running(host.path)
    for cid in ("id-a", "id-b"):
        records.remove(where, "net1", cid, "eth0")
    wait_until(lambda: daemon.running(host.path) is None, "the server to leave", timeout=5)
    assert host.run("ss", "-Hlunt").stdout.strip() == ""
    assert not os.path.exists(daemon.lock_path(host.path))
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), "the server's process to end", timeout=5)


def test_a_container_added_to_a_served_network_is_answered_as_after_a_full_reload(dns):
    """A container's ADD on a network served already is taken in place (cni.dns.server._added): its
    names and PTR answer at once, no NXDOMAIN cached before is given again, and its address is
    another network's (NXDOMAIN on net2, not forwarded)."""
    c1, c3 = dns["c1"], dns["c3"]
    before, theirs_before = ask(c1, [GW1, "newbie", m.A]), ask(c3, [GW2, reverse("10.231.1.7"), m.PTR])
    assert before[0][0] == m.NXDOMAIN and theirs_before[0][0] == m.NOERROR  # (the upstream answers it)
    records.write(dns["records"], attachment("net1", "id-new", ["newbie"], ["10.231.1.7/24"], [GW1, GW1_6]))
    with entered(dns["host"].path):
        wait_until(lambda: daemon.probe(GW1, "newbie") == (m.NOERROR, ["10.231.1.7"]), "the new name", timeout=1)
    name, fqdn6, ptr, web = ask(c1, [GW1, "newbie", m.A], [GW1_6, "newbie.dns.podman", m.AAAA],
                                [GW1, reverse("10.231.1.7"), m.PTR, "tcp"], [GW1, "web", m.A])
    assert name[:3:2] == [m.NOERROR, [rr(m.A, "10.231.1.7")]] and fqdn6[:3:2] == [m.NOERROR, []]
    assert ptr[2] == [rr(m.PTR, "newbie.dns.podman.")] and web[2] == [rr(m.A, "10.231.1.2")]
    (theirs,) = ask(c3, [GW2, reverse("10.231.1.7"), m.PTR])
    assert theirs[0] == m.NXDOMAIN and theirs[1] & m.AA
    far = records.Attachment("net1", "id-far", "eth0", ["far"], ["10.231.1.8/24"], [], "dns.podman", host="192.0.2.9")
    records.write(dns["records"], far)  # an overlay peer's container: no gateways, answered on net1's
    with entered(dns["host"].path):
        wait_until(lambda: daemon.probe(GW1_6, "far.dns.podman") == (m.NOERROR, ["10.231.1.8"]), "the peer's name",
                   timeout=1)


def test_a_storm_of_malformed_datagrams_leaves_it_answering(dns):
    c1, host = dns["c1"], dns["host"]
    pid = daemon.running(host.path)
    sent = c1.run(sys.executable, "-m", "tests.integration.dns_client", "--storm", GW1, "6000", cwd=ROOT, timeout=120)
    assert json.loads(sent.stdout) == 6000
    web, tcp = ask(c1, [GW1, "web", m.A], [GW1, "www", m.AAAA, "tcp"])
    assert web[2] == [rr(m.A, "10.231.1.2")] and tcp[2] == [rr(m.AAAA, "fd31:1::2")]
    assert daemon.running(host.path) == pid


def test_one_server_however_many_callers_start_it_at_once(make_netns, tmp_path):
    host = make_netns("h")
    where = str(tmp_path / "records")
    records.write(where, attachment("net1", "id-a", ["web"], ["10.231.1.2/24"], [GW1]))
    with ThreadPoolExecutor(8) as pool:
        started = list(pool.map(lambda _: daemon.ensure_running(host.path, where), range(8)))
    assert started.count(True) == 1
    pid = wait_until(lambda: daemon.running(host.path), "the server's pid")
    wait_until(lambda: len([line for line in host.run("ss", "-Hluntp").stdout.splitlines() if f"pid={pid}," in line])
               == 2, "its UDP and TCP sockets")  # (its pid is in the lock before it binds them)
    records.remove(where, "net1", "id-a", "eth0")
    wait_until(lambda: daemon.running(host.path) is None, "the server to leave", timeout=5)


def test_hypothesis_inputs_leave_it_answering_well_formed(dns):
    with entered(dns["c1"].path):  # a socket of the container's, used from here
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    replies = []

    def drain():
        while True:
            try:
                replies.append(sock.recv(4096))
            except BlockingIOError:
                return

    queries = st.sampled_from([m.query("web", m.A), m.query("www.dns.podman", m.AAAA, edns=True),
                               m.query("other", m.A), m.query(reverse("10.231.1.3"), m.PTR)])
    flipped = st.tuples(queries, st.integers(0, 60), st.lists(st.integers(0, 8 * 60), max_size=6)).map(flip)

    @settings(max_examples=1500, database=None)
    @given(st.one_of(st.binary(max_size=300), flipped))
    def send(data):
        sock.sendto(data, (GW1, 53))
        drain()

    with sock:
        send()
        time.sleep(0.3)
        drain()
        for reply in replies:  # every answer given is a well-formed response
            assert m.answers(reply)[1] & m.QR
        assert replies, "nothing was answered at all"
    (web,) = ask(dns["c1"], [GW1, "web", m.A])
    assert web[2] == [rr(m.A, "10.231.1.2")]
