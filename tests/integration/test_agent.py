"""The resident agent: started by the first call, same answers as in-process, root and own-netns only,
a stale build steps down, deadlines, idle exit, systemd socket activation, kill -9 under load."""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from cni.agent import wire
from tests.netns import plugin_path, processes_in, run_plugin, wait_until

pytestmark = pytest.mark.root

BRIDGE = plugin_path("bridge")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def conf(lab, name="agentnet", subnet="10.78.0.0/24") -> dict:
    return {"cniVersion": "1.0.0", "name": name, "type": "bridge", "bridge": lab["bridge"], "isGateway": True,
            "ipMasq": True, "ipam": {"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": subnet}]]}}


def cni(lab, command, config, netns, cid, env=None, **kw):
    env = {"PYNET_AGENT": "auto", "PYNET_RUN_DIR": lab["run"], **(env or {})}
    return run_plugin(BRIDGE, command, config, netns=netns.path, container_id=cid, cni_path=lab["cni_path"],
                      host=lab["host"].name, env=env, **kw)


def agents(host) -> list[int]:
    return processes_in(host.path, b"cni.agent.supervisor")


def socket_of(lab) -> str:
    return wire.socket_path({"PYNET_RUN_DIR": lab["run"]}, os.stat(lab["host"].path).st_ino)


def supervisor(lab) -> tuple[int, str]:
    """(pid, build) of the agent's supervisor, from the lock it holds."""
    with open(socket_of(lab) + ".lock") as f:
        pid, build = f.read().split()
    return int(pid), build


def warm(lab, env=None) -> int:
    """Start the host's agent (the first call runs in-process and starts it); its supervisor's pid."""
    started = cni(lab, "DEL", conf(lab), lab["c1"], "warm-up", env=env)
    assert started.ok, started.stdout
    wait_until(lambda: os.path.exists(socket_of(lab)), "the agent's socket", timeout=15)
    pid = supervisor(lab)[0]
    assert pid in agents(lab["host"])
    return pid


@pytest.fixture
def alab(lab):
    """The lab, with a run directory of its own for the agent's socket (under /run: a non-root
    caller must be able to reach it, to be refused)."""
    parent = tempfile.mkdtemp(prefix="pynet-test-", dir="/run")
    os.chmod(parent, 0o755)
    lab["run"] = os.path.join(parent, "run")
    yield lab
    shutil.rmtree(parent, ignore_errors=True)


def test_first_call_starts_the_agent_which_serves_the_next(alab, tmp_path):
    log = tmp_path / "agent.log"
    env = {"PYNET_DEBUG": "1", "PYNET_LOG_FILE": str(log)}
    pid = warm(alab, env)
    assert os.stat(socket_of(alab)).st_mode & 0o777 == 0o600
    assert os.stat(alab["run"]).st_mode & 0o777 == 0o700
    added = cni(alab, "ADD", conf(alab), alab["c1"], "id-c1", env=env)
    assert added.ok, added.stdout
    assert added.json["ips"][0]["address"] == "10.78.0.2/24"
    assert "10.78.0.2/24" in alab["c1"].run("ip", "-o", "addr", "show", "eth0").stdout
    assert "served bridge ADD container id-c1: exit 0" in log.read_text()
    assert supervisor(alab)[0] == pid and len(agents(alab["host"])) >= 2  # the supervisor and its workers
    deleted = cni(alab, "DEL", conf(alab), alab["c1"], "id-c1", env=env)
    assert deleted.ok and "served bridge DEL container id-c1: exit 0" in log.read_text()


BAD_INPUTS = [
    ("ADD", b"{not json", {}),
    ("ADD", json.dumps({"cniVersion": "9.9.9", "name": "n", "type": "bridge"}).encode(), {}),
    ("ADD", None, {"CNI_NETNS": "/run/netns/does-not-exist"}),
    ("ADD", None, {"CNI_IFNAME": "x" * 20}),
    ("CHECK", None, {}),  # nothing was added: CHECK fails the same way
    ("DEL", None, {}),  # nothing to delete: success, the same way
]


@pytest.mark.parametrize("command,stdin,extra", BAD_INPUTS)
def test_answers_are_identical_in_process_and_through_the_agent(alab, command, stdin, extra):
    warm(alab)
    stdin = stdin if stdin is not None else json.dumps(conf(alab)).encode()
    answers = []
    for mode in ("off", "auto"):
        env = {"PYNET_AGENT": mode, **extra}
        netns = extra.get("CNI_NETNS", alab["c1"].path)
        environ = {"PATH": os.environ["PATH"], "PYNET_RUN_DIR": alab["run"], "CNI_COMMAND": command,
                   "CNI_CONTAINERID": "same", "CNI_NETNS": netns, "CNI_IFNAME": "eth0", "CNI_PATH": alab["cni_path"],
                   **env}
        done = subprocess.run(["ip", "netns", "exec", alab["host"].name, BRIDGE], input=stdin, env=environ,
                              capture_output=True, timeout=60)
        answers.append((done.returncode, done.stdout.decode(), done.stderr.decode()))
    assert answers[0] == answers[1]


def test_results_match_in_process_and_through_the_agent(alab):
    warm(alab)
    results = []
    for mode, netns, cid in (("off", alab["c1"], "id-a"), ("auto", alab["c2"], "id-b")):
        added = cni(alab, "ADD", conf(alab), netns, cid, env={"PYNET_AGENT": mode})
        assert added.ok, added.stdout
        results.append(added.json)
    for result in results:  # what differs between two containers by nature
        result["interfaces"][0].pop("mac")
        for interface in result["interfaces"][1:]:
            interface.pop("mac"), interface.pop("name" if "sandbox" not in interface else "sandbox")
        for ip in result["ips"]:
            ip.pop("address")
    assert results[0] == results[1]
    for mode, netns, cid in (("auto", alab["c1"], "id-a"), ("off", alab["c2"], "id-b")):
        assert cni(alab, "DEL", conf(alab), netns, cid, env={"PYNET_AGENT": mode}).ok


# A caller that speaks the agent's wire format by itself (it may run as a user who cannot read
# pynet's files): one loopback DEL, the answer as JSON.
CLIENT = """
import json, socket, struct, sys, time
def pack(fields):
    return struct.pack("!I", len(fields)) + b"".join(struct.pack("!I", len(f)) + f for f in fields)
def exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({path!r})
except OSError as e:
    print(json.dumps({{"connect": type(e).__name__}})); sys.exit()
env = b"\\0".join([b"CNI_COMMAND=DEL", b"CNI_CONTAINERID=x", b"CNI_IFNAME=eth0", b"CNI_NETNS=" + {netns!r}.encode()])
stdin = json.dumps({{"cniVersion": "1.0.0", "name": "lo", "type": "loopback"}}).encode()
s.sendall(pack([{magic!r}, {build!r}, b"loopback", repr(time.time() + 30).encode(), env, stdin]))
count = struct.unpack("!I", exactly(s, 4))[0]
status, code, out, err = [exactly(s, struct.unpack("!I", exactly(s, 4))[0]) for _ in range(count)]
print(json.dumps({{"status": status.decode(), "code": int(code), "out": out.decode()}}))
"""


def raw_client(lab, argv_prefix, netns_name):
    script = CLIENT.format(path=socket_of(lab), netns=lab["c1"].path, magic=wire.MAGIC,
                           build=wire.build_id().encode())
    done = subprocess.run(["ip", "netns", "exec", netns_name, *argv_prefix, "/usr/bin/python3", "-c", script],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs /usr/bin/python3 for the non-root caller")
def test_only_root_is_served(alab):
    warm(alab)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    os.chmod(alab["run"], 0o755)  # (the agent makes it 0700) so that only the socket's own mode is in the way
    assert raw_client(alab, nobody, alab["host"].name) == {"connect": "PermissionError"}
    # even with the socket opened up, the agent checks the caller's credentials
    os.chmod(socket_of(alab), 0o666)
    answer = raw_client(alab, nobody, alab["host"].name)
    assert answer["status"] == "refused" and answer["code"] == 1
    error = json.loads(answer["out"])
    assert error["code"] == 4 and "serves root only (caller uid 65534)" in error["msg"]
    assert raw_client(alab, [], alab["host"].name)["status"] == "ok"  # root is served


def test_callers_in_another_network_namespace_are_refused(alab):
    warm(alab)
    answer = raw_client(alab, [], alab["c2"].name)
    assert answer["status"] == "refused"
    assert "another network namespace" in json.loads(answer["out"])["msg"]


def test_an_agent_of_another_build_steps_down(alab, tmp_path):
    log = tmp_path / "agent.log"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": REPO, "PYNET_AGENT_BUILD": "0.0.1+old", "PYNET_DEBUG": "1",
           "PYNET_LOG_FILE": str(log), "PYNET_RUN_DIR": alab["run"]}
    old = subprocess.Popen(["ip", "netns", "exec", alab["host"].name, sys.executable, "-m", "cni.agent.supervisor"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(socket_of(alab)), "the old agent's socket", timeout=15)
        added = cni(alab, "ADD", conf(alab), alab["c1"], "id-c1", env={"PYNET_LOG_FILE": str(log)})
        assert added.ok, added.stdout
        assert old.wait(timeout=15) == 0
        assert "a caller of build" in log.read_text() and "served bridge ADD" not in log.read_text()
        # the call ran in-process and started an agent of this build for the next ones
        wait_until(lambda: os.path.exists(socket_of(alab)), "a new agent", timeout=15)
        new, build = supervisor(alab)
        assert build == wire.build_id() and new in agents(alab["host"]) and new != old.pid
    finally:
        if old.poll() is None:
            old.kill()
        old.wait()
    assert cni(alab, "DEL", conf(alab), alab["c1"], "id-c1").ok


def test_the_agent_leaves_when_idle(alab):
    pid = warm(alab, {"PYNET_AGENT_IDLE": "1"})
    wait_until(lambda: pid not in agents(alab["host"]), "the idle agent to leave", timeout=20)
    assert not os.path.exists(socket_of(alab))


@contextlib.contextmanager
def ipam_blocked(lab, network: str):
    """host-local of `network` waits (for its store's lock) until the block ends."""
    lock_dir = os.path.join(lab["data"], network)
    os.makedirs(lock_dir, exist_ok=True)
    with open(os.path.join(lock_dir, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def nothing_left(lab, config: dict, netns, before: dict) -> None:
    """Nothing of the network of `config` left: the host's links and routes as `before`, no firewall
    element of its subnet, no reservation, no interface in the container."""
    assert "eth0" not in netns.links()
    reservations = [n for n in os.listdir(os.path.join(lab["data"], config["name"])) if n[0].isdigit()]
    assert reservations == []
    after = lab["host"].snapshot()
    assert (after["links"], after["routes"]) == (before["links"], before["routes"])
    assert config["ipam"]["ranges"][0][0]["subnet"].rsplit(".", 1)[0] + "." not in after["nft"]


def test_an_add_that_misses_its_deadline_is_rolled_back_without_blocking_others(alab, tmp_path):
    log = tmp_path / "agent.log"
    warm(alab, {"PYNET_LOG_FILE": str(log)})
    stuck_net, other_net = conf(alab, "stucknet", "10.79.0.0/24"), conf(alab, "othernet", "10.80.0.0/24")
    other_net["bridge"] += "o"
    before = alab["host"].snapshot()
    with ipam_blocked(alab, "stucknet"):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            stuck = pool.submit(cni, alab, "ADD", stuck_net, alab["c1"], "id-stuck", env={"PYNET_AGENT_TIMEOUT": "3"})
            time.sleep(0.5)
            start = time.monotonic()
            other = cni(alab, "ADD", other_net, alab["c2"], "id-other")
            other_took = time.monotonic() - start
            assert other.ok, other.stdout
            assert other_took < 2.5 and not stuck.done()
            missed = stuck.result(timeout=30)
        assert missed.returncode != 0
        error = missed.json
        assert error["code"] == 11 and "deadline" in error["msg"] and "rolled back" in error["msg"]
        assert alab["host"].links().get(alab["bridge"]) is not None  # the ADD is still waiting for its address
    # the lock is free: host-local reserves an address, and the ADD stops at its next step and rolls back
    wait_until(lambda: "caller gave up" in log.read_text(), "the late ADD to end", timeout=30)
    assert cni(alab, "DEL", other_net, alab["c2"], "id-other").ok
    alab["host"].run("ip", "link", "delete", other_net["bridge"])  # DEL leaves the bridge, as the reference's does
    nothing_left(alab, stuck_net, alab["c1"], before)


def test_an_add_whose_caller_is_killed_is_rolled_back(alab, tmp_path):
    log = tmp_path / "agent.log"
    warm(alab, {"PYNET_LOG_FILE": str(log)})
    network = conf(alab, "killednet", "10.82.0.0/24")
    before = alab["host"].snapshot()
    environ = {"PATH": os.environ["PATH"], "PYNET_RUN_DIR": alab["run"], "CNI_COMMAND": "ADD",
               "CNI_CONTAINERID": "id-killed", "CNI_NETNS": alab["c1"].path, "CNI_IFNAME": "eth0",
               "CNI_PATH": alab["cni_path"]}
    with ipam_blocked(alab, "killednet"):
        caller = subprocess.Popen(["ip", "netns", "exec", alab["host"].name, BRIDGE], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, env=environ)
        caller.stdin.write(json.dumps(network).encode())
        caller.stdin.close()
        # the agent runs it: the bridge and the veth are there, the address is being waited for
        wait_until(lambda: "eth0" in alab["c1"].links(), "the ADD to get under way", timeout=30)
        caller.kill()
        caller.wait()
        wait_until(lambda: "went away" in log.read_text(), "the agent to notice", timeout=10)
    wait_until(lambda: "caller gave up" in log.read_text(), "the ADD to roll back", timeout=30)
    nothing_left(alab, network, alab["c1"], before)


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"), reason="systemd-socket-activate not installed")
def test_systemd_socket_activation(alab, tmp_path):
    log = tmp_path / "agent.log"
    os.makedirs(alab["run"], mode=0o700)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": REPO, "PYNET_DEBUG": "1", "PYNET_LOG_FILE": str(log)}
    activator = subprocess.Popen(["ip", "netns", "exec", alab["host"].name, "systemd-socket-activate", "-l",
                                  socket_of(alab), "-E", "PYTHONPATH", "-E", "PYNET_DEBUG", "-E", "PYNET_LOG_FILE",
                                  "-E", "PATH", sys.executable, "-m", "cni.agent.supervisor", "--idle", "0"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(socket_of(alab)), "the activation socket", timeout=15)
        added = cni(alab, "ADD", conf(alab), alab["c1"], "id-c1", env={"PYNET_AGENT": "manual"})
        assert added.ok, added.stdout
        assert "served bridge ADD container id-c1: exit 0" in log.read_text()
        assert cni(alab, "DEL", conf(alab), alab["c1"], "id-c1", env={"PYNET_AGENT": "manual"}).ok
    finally:
        activator.send_signal(signal.SIGTERM)
        try:
            activator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            activator.kill()
            activator.wait()


def requests_held(lab) -> int:
    """Requests the agent holds at this moment: connections on its socket, being served or queued
    (their callers have handed the request over)."""
    path, listening = socket_of(lab), 0x10000  # __SO_ACCEPTCON: the listening socket itself
    rows = [line.split() for line in lab["host"].run("cat", "/proc/net/unix").stdout.splitlines()[1:]]
    return sum(1 for row in rows if len(row) == 8 and row[7] == path and not int(row[3], 16) & listening)


def test_kill_9_during_50_concurrent_adds_leaves_nothing_after_del(alab, make_netns):
    pid = warm(alab)
    containers = [make_netns("k") for _ in range(50)]
    config = conf(alab, subnet="10.81.0.0/24")

    def add(n):
        return cni(alab, "ADD", config, containers[n], f"kill-{n}", timeout=120)

    lock_dir = os.path.join(alab["data"], "agentnet")
    os.makedirs(lock_dir, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(50) as pool, open(os.path.join(lock_dir, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the ADDs pile up in the agent, at host-local's lock
        futures = [pool.submit(add, n) for n in range(50)]

        def piled_up() -> int:
            count = requests_held(alab)
            return count if count >= 10 else 0

        held = wait_until(piled_up, "10 requests waiting in the agent", 60)
        doomed = agents(alab["host"])  # the supervisor and every worker
        assert pid in doomed
        for process in doomed:  # while they wait (their veths made, no address yet): the kill always
            os.kill(process, signal.SIGKILL)  # meets them (after an unlock, a busy machine let them finish first)
        fcntl.flock(lock, fcntl.LOCK_UN)
        answers = [f.result() for f in futures]
    addresses, went_away = [], 0
    for n, answer in enumerate(answers):
        document = json.loads(answer.stdout)
        if answer.ok:
            address = document["ips"][0]["address"]
            addresses.append(address)
            assert address in containers[n].run("ip", "-o", "addr", "show", "eth0").stdout
        else:
            assert isinstance(document["code"], int) and document["msg"]
            went_away += document["code"] == 11 and "went away during the request" in document["msg"]
    print(f"killed with {held} requests in the agent: {went_away} callers got code 11, {len(addresses)} ADDs done")
    assert went_away > 0, "no request was in flight when the agent died"
    assert len(addresses) == len(set(addresses)), "an address was handed out twice"
    for n in range(50):
        deleted = cni(alab, "DEL", config, containers[n], f"kill-{n}")
        assert deleted.ok, deleted.stdout
    host = alab["host"]
    assert [name for name in host.links() if name.startswith("pnv")] == []
    assert sorted(os.listdir(os.path.join(alab["data"], "agentnet"))) == ["last_reserved_ip.0", "lock"]
    masq = host.run("nft", "list", "set", "inet", "pynet", "masq4", check=False).stdout
    assert "elements" not in masq
    assert sum(c.links().get("eth0") is not None for c in containers) == 0


def test_pynet_agent_status_and_stop(alab):
    pid = warm(alab)
    pynet = os.path.join(os.path.dirname(sys.executable), "pynet")
    shown = subprocess.run([pynet, "--format", "json", "agent", "status", "--socket", socket_of(alab)],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)[0]
    assert row["listening"] and row["pid"] == pid and row["current"]
    assert subprocess.run([pynet, "agent", "stop", "--socket", socket_of(alab)], timeout=30).returncode == 0
    wait_until(lambda: pid not in agents(alab["host"]), "the agent to stop", timeout=15)
    gone = subprocess.run([pynet, "agent", "status", "--socket", socket_of(alab)], capture_output=True, text=True,
                          timeout=30)
    assert gone.returncode == 3 and "False" in gone.stdout
