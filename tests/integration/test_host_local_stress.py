"""host-local under stress: interop with the Go reference on one store, many concurrent processes,
kill -9 at random instants, exhaustion races. Every test checks the store file by file."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import signal
import subprocess
import time

import pytest

from cni.ipam.store import is_address
from tests.netns import plugin_path, reference_path, run_plugin

HOST_LOCAL = plugin_path("host-local")
REFERENCE = reference_path("host-local")
CNI_PATH = os.path.dirname(REFERENCE)
NETNS = "/run/netns/none"  # host-local never enters it; ADD and CHECK only need it set
NETWORK = "net1"
TIMEOUT = 180  # seconds for any one process: generous, the machine may be loaded (e.g. under -n 2)
TEMP_PREFIX = ".pynet-tmp-"
LAST_RESERVED = "last_reserved_ip."

needs_reference = pytest.mark.skipif(not os.access(REFERENCE, os.X_OK),
                                     reason=f"the reference host-local ({REFERENCE}) is not installed")


def conf(data_dir, subnet="10.22.0.0/16", version="1.0.0", **extra) -> dict:
    return {"cniVersion": version, "name": NETWORK, "type": "bridge",
            "ipam": {"type": "host-local", "dataDir": str(data_dir), "ranges": [[{"subnet": subnet}]]}, **extra}


def network_dir(data_dir) -> str:
    return os.path.join(str(data_dir), NETWORK)


def listing(data_dir) -> set[str]:
    return set(os.listdir(network_dir(data_dir)))


def reservations(data_dir) -> dict[str, bytes]:
    """Every IP-named file of the network -> its raw content."""
    out = {}
    for name in listing(data_dir):
        if is_address(name):
            with open(os.path.join(network_dir(data_dir), name), "rb") as f:
                out[name] = f.read()
    return out


def assert_only_bookkeeping(data_dir) -> None:
    """Nothing reserved and nothing stray: only the lock and last_reserved_ip.<n> files."""
    left = listing(data_dir)
    assert "lock" in left, left
    assert all(n == "lock" or n.startswith(LAST_RESERVED) for n in left), sorted(left)


def owner(cid: str, ifname: str = "eth0") -> bytes:
    return f"{cid}\r\n{ifname}".encode()


def address_of(result: dict) -> str:
    (ip,) = result["ips"]
    return ip["address"].split("/")[0]


def run(executable, command, config, cid, ifname="eth0"):
    return run_plugin(executable, command, config, container_id=cid, ifname=ifname, netns=NETNS,
                      cni_path=CNI_PATH, timeout=TIMEOUT)


def impl_name(executable) -> str:
    return "reference" if executable == REFERENCE else "pynet"


class Processes:
    """Plugin processes started with Popen; the fixture kills and reaps whatever is still running."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen] = []

    def start(self, executable, command, config, cid, ifname="eth0") -> subprocess.Popen:
        path = self.tmp_path / f"stdin-{len(self.started)}.json"
        path.write_text(json.dumps(config))
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
               "CNI_CONTAINERID": cid, "CNI_IFNAME": ifname, "CNI_NETNS": NETNS, "CNI_PATH": CNI_PATH}
        with open(path, "rb") as stdin:
            proc = subprocess.Popen([executable], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env)
        self.started.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()  # reaps it and closes its pipes


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.cleanup()


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# 1. Interop -----------------------------------------------------------------------------------

@needs_reference
def test_interop_with_reference_on_one_store(tmp_path):
    data_dir = tmp_path / "networks"
    config = conf(data_dir)
    impls = {}  # cid -> the implementation that added it
    got = {}  # cid -> (address, ifname, ADD result)
    for n in range(20):
        cid = f"interop-{n:02d}"
        ifname = "eth0" if n % 4 < 2 else "net1"
        impls[cid] = HOST_LOCAL if n % 2 == 0 else REFERENCE
        added = run(impls[cid], "ADD", config, cid, ifname)
        assert added.ok, f"{impl_name(impls[cid])} ADD {cid}: {added.stdout}{added.stderr}"
        got[cid] = (address_of(added.json), ifname, added.json)

    addresses = [a for a, _, _ in got.values()]
    assert len(set(addresses)) == 20, sorted(addresses)
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.22.0.0/16") for a in addresses)
    assert "10.22.0.1" not in addresses  # the gateway
    held = reservations(data_dir)
    assert held == {a: owner(cid, ifname) for cid, (a, ifname, _) in got.items()}
    assert listing(data_dir) == set(held) | {"lock", "last_reserved_ip.0"}

    # CHECK across implementations: pynet checks a reference reservation and vice versa.
    for cid, (address, ifname, result) in got.items():
        if impls[cid] == REFERENCE:
            checked = run(HOST_LOCAL, "CHECK", {**config, "prevResult": result}, cid, ifname)
            assert checked.ok and checked.stdout == "", f"pynet CHECK of reference {cid}: {checked.stdout}"
            break
    for cid, (address, ifname, result) in got.items():
        if impls[cid] == HOST_LOCAL:
            checked = run(REFERENCE, "CHECK", {**config, "prevResult": result}, cid, ifname)
            assert checked.ok, f"reference CHECK of pynet {cid}: {checked.stdout}{checked.stderr}"
            break
    # a CHECK for a container nobody added fails in pynet
    missing = run(HOST_LOCAL, "CHECK", config, "interop-nobody")
    assert not missing.ok and missing.json["code"] == 105, missing.stdout

    # Half of them are deleted by the implementation that did *not* add them.
    cids = sorted(got)
    for cid in cids[:10]:
        other = REFERENCE if impls[cid] == HOST_LOCAL else HOST_LOCAL
        deleted = run(other, "DEL", config, cid, got[cid][1])
        assert deleted.ok, f"{impl_name(other)} DEL {cid}: {deleted.stdout}{deleted.stderr}"
        assert not os.path.exists(os.path.join(network_dir(data_dir), got[cid][0])), cid
    assert reservations(data_dir) == {got[c][0]: owner(c, got[c][1]) for c in cids[10:]}

    # A released address is handed out again, without disturbing the others.
    again = run(HOST_LOCAL, "ADD", config, "interop-again")
    assert again.ok, again.stdout
    assert address_of(again.json) not in {got[c][0] for c in cids[10:]}
    cids.append("interop-again")
    got["interop-again"] = (address_of(again.json), "eth0", again.json)
    impls["interop-again"] = HOST_LOCAL

    # DEL everything (again for the already deleted: DEL is idempotent in both), alternating.
    for n, cid in enumerate(cids):
        executable = HOST_LOCAL if n % 2 else REFERENCE
        deleted = run(executable, "DEL", config, cid, got[cid][1])
        assert deleted.ok, f"{impl_name(executable)} DEL {cid}: {deleted.stdout}{deleted.stderr}"
    assert listing(data_dir) == {"lock", "last_reserved_ip.0"}


# 2. Many concurrent processes -----------------------------------------------------------------

@needs_reference
def test_200_concurrent_adds_and_dels_mixed(tmp_path, processes):
    data_dir = tmp_path / "networks"
    config = conf(data_dir)
    cids = [f"conc-{n:03d}" for n in range(200)]
    started = time.monotonic()
    adds = [(cid, processes.start(REFERENCE if n % 3 == 2 else HOST_LOCAL, "ADD", config, cid))
            for n, cid in enumerate(cids)]
    given = {}
    failures = []
    for cid, proc in adds:
        code, out, err = finish(proc)
        if code != 0:
            failures.append(f"{cid} ({proc.args[0]}): rc={code} {out}{err}")
            continue
        given[cid] = address_of(json.loads(out))
    assert not failures, "\n".join(failures)
    assert len(given) == 200
    assert len(set(given.values())) == 200, "an address was handed out twice"
    assert reservations(data_dir) == {address: owner(cid) for cid, address in given.items()}
    assert listing(data_dir) == set(given.values()) | {"lock", "last_reserved_ip.0"}
    print(f"200 concurrent ADDs: {time.monotonic() - started:.1f}s")

    started = time.monotonic()
    dels = [(cid, processes.start(REFERENCE if n % 3 == 0 else HOST_LOCAL, "DEL", config, cid))
            for n, cid in enumerate(cids)]
    for cid, proc in dels:
        code, out, err = finish(proc)
        if code != 0:
            failures.append(f"DEL {cid} ({proc.args[0]}): rc={code} {out}{err}")
    assert not failures, "\n".join(failures)
    assert listing(data_dir) == {"lock", "last_reserved_ip.0"}
    print(f"200 concurrent DELs: {time.monotonic() - started:.1f}s")


# 3. kill -9 at random instants ----------------------------------------------------------------

SEED = int(os.environ.get("PYNET_STRESS_SEED", "1717"))


def test_kill_9_leaves_a_consistent_store(tmp_path, processes):
    print(f"kill -9 seed: {SEED} (set PYNET_STRESS_SEED to replay)")
    rng = random.Random(SEED)
    data_dir = tmp_path / "networks"
    config = conf(data_dir)
    cids = [f"kill-{n:03d}" for n in range(100)]
    succeeded: dict[str, str] = {}  # cid -> address
    killed: list[str] = []
    for first in range(0, len(cids), 4):
        batch = []
        for cid in cids[first:first + 4]:
            delay = rng.uniform(0, 0.150)
            batch.append((cid, processes.start(HOST_LOCAL, "ADD", config, cid), time.monotonic() + delay))
        for cid, proc, deadline in sorted(batch, key=lambda b: b[2]):
            time.sleep(max(0.0, deadline - time.monotonic()))
            proc.send_signal(signal.SIGKILL)  # a no-op once it has exited and been reaped
        for cid, proc, _ in batch:
            code, out, err = finish(proc)
            if code == 0:
                succeeded[cid] = address_of(json.loads(out))
            else:
                assert code == -signal.SIGKILL, f"ADD {cid} failed on its own: rc={code} {out}{err}"
                killed.append(cid)
    print(f"{len(succeeded)} ADDs finished, {len(killed)} were killed")
    assert succeeded and killed, "the random delays should let some finish and kill others"

    # The store holds only whole files.
    stale = []
    held = {}
    for name in sorted(listing(data_dir)):
        path = os.path.join(network_dir(data_dir), name)
        with open(path, "rb") as f:
            content = f.read()
        if name == "lock":
            continue
        if name.startswith(LAST_RESERVED):
            assert name[len(LAST_RESERVED):].isdigit(), name
            text = content.decode().strip()
            assert text == "" or is_address(text), f"{name} holds {content!r}"
        elif name.startswith(TEMP_PREFIX):
            stale.append(name)
        else:
            assert is_address(name), f"unexpected file {name!r} ({content!r})"
            cid, sep, ifname = content.decode().partition("\r\n")
            assert sep and cid in cids and ifname == "eth0" and content == owner(cid), \
                f"reservation {name} holds {content!r}: not \"<container id>\\r\\neth0\""
            held[name] = cid
    assert len(set(held.values())) == len(held), f"a container holds two addresses: {held}"
    assert len(set(succeeded.values())) == len(succeeded), f"an address was handed out twice: {succeeded}"
    for cid, address in succeeded.items():
        assert held.get(address) == cid, f"{cid} got {address} but the store says {held.get(address)!r}"
    orphans = {a: c for a, c in held.items() if c not in succeeded}
    print(f"{len(orphans)} reservations of killed ADDs, {len(stale)} stale temporaries")
    # The write-to-link window is microseconds wide, so random kills rarely leave a temporary behind:
    # plant what a kill mid-write would leave (an empty one and a partial one) so the sweep is tested.
    for name, content in (("planted0", b""), ("planted1", b"kill-00")):
        with open(os.path.join(network_dir(data_dir), TEMP_PREFIX + name), "wb") as f:
            f.write(content)

    # GC keeps exactly the successful attachments and sweeps the stale temporaries.
    gc_config = {**conf(data_dir, version="1.1.0"),
                 "cni.dev/valid-attachments": [{"containerID": cid, "ifname": "eth0"} for cid in succeeded]}
    collected = run_plugin(HOST_LOCAL, "GC", gc_config, container_id="", ifname="", cni_path=CNI_PATH,
                           timeout=TIMEOUT)
    assert collected.ok and collected.stdout == "", collected.stdout + collected.stderr
    assert reservations(data_dir) == {address: owner(cid) for cid, address in succeeded.items()}
    assert not [n for n in listing(data_dir) if n.startswith(TEMP_PREFIX)]
    assert all(n == "lock" or n.startswith(LAST_RESERVED) or is_address(n) for n in listing(data_dir))

    for cid in cids:
        deleted = run(HOST_LOCAL, "DEL", config, cid)
        assert deleted.ok, f"DEL {cid}: {deleted.stdout}{deleted.stderr}"
    assert_only_bookkeeping(data_dir)

    final = run(HOST_LOCAL, "ADD", config, "kill-final")
    assert final.ok, final.stdout + final.stderr
    address = address_of(final.json)
    assert reservations(data_dir) == {address: owner("kill-final")}
    assert run(HOST_LOCAL, "DEL", config, "kill-final").ok
    assert_only_bookkeeping(data_dir)


# 4. Exhaustion under concurrency -----------------------------------------------------------------

def test_exhaustion_under_concurrency(tmp_path, processes):
    data_dir = tmp_path / "networks"
    config = conf(data_dir, subnet="10.22.7.0/29")  # .1 is the gateway: .2 .. .6 are free
    cids = [f"full-{n:02d}" for n in range(12)]
    procs = [(cid, processes.start(HOST_LOCAL, "ADD", config, cid)) for cid in cids]
    given = {}
    errors = {}
    for cid, proc in procs:
        code, out, err = finish(proc)
        if code == 0:
            given[cid] = address_of(json.loads(out))
        else:
            assert code == 1, f"{cid}: rc={code} {out}{err}"
            errors[cid] = json.loads(out)
    assert len(given) == 5 and len(errors) == 7, (given, errors)
    assert sorted(given.values(), key=ipaddress.ip_address) == [f"10.22.7.{n}" for n in range(2, 7)]
    for cid, error in errors.items():
        assert error["code"] == 103, error
        assert "no free address in 10.22.7.0/29" in error["msg"], error
    assert reservations(data_dir) == {address: owner(cid) for cid, address in given.items()}
    assert listing(data_dir) == set(given.values()) | {"lock", "last_reserved_ip.0"}

    for cid in cids:
        assert run(HOST_LOCAL, "DEL", config, cid).ok
    assert listing(data_dir) == {"lock", "last_reserved_ip.0"}
