"""pynet-tuning chained after an interface plugin: sysctls and link settings in a real container
namespace, rollback of a failing ADD, restore on DEL, CHECK, bad input, side by side with the reference."""

from __future__ import annotations

import copy
import json
import os

import pytest

from cni.spec import SUPPORTED
from tests.netns import plugin_path, reference_path, run_plugin

pytestmark = pytest.mark.root

TUNING = plugin_path("tuning")
CHAINED = SUPPORTED  # chaining (prevResult) exists in every version pynet speaks: 0.3.0..1.1.0
NEW_MAC = "c2:11:22:33:44:55"
FULL = {"sysctl": {"net.core.somaxconn": "1234", "net.ipv4.conf.IFNAME.rp_filter": "2"},
        "mac": NEW_MAC, "mtu": 1400, "promisc": True, "allmulti": True}
FULL_STEPS = 7  # 2 sysctls, the saved-settings file, mac, promisc, mtu, allmulti


# ---- helpers -----------------------------------------------------------------------------------

@pytest.fixture
def state(tmp_path) -> str:
    return str(tmp_path / "state")


@pytest.fixture
def make_container(make_netns):
    """A container namespace holding `ifname` (one end of a veth pair), as a bridge ADD leaves it."""
    def make(ifname: str = "eth0", role: str = "c"):
        ns = make_netns(role)
        ns.run("ip", "link", "add", ifname, "type", "veth", "peer", "name", "peer0")
        return ns
    return make


@pytest.fixture
def ctr(make_container):
    return make_container()


def link_info(ns, ifname: str = "eth0") -> dict:
    found = json.loads(ns.run("ip", "-j", "-d", "link", "show", "dev", ifname).stdout)[0]
    return {"mac": found["address"], "mtu": found["mtu"], "promisc": "PROMISC" in found["flags"],
            "allmulti": "ALLMULTI" in found["flags"]}


def sysctl(ns, path: str) -> str:
    return ns.run("cat", f"/proc/sys/{path}").stdout.strip()


def host_sysctl(path: str) -> str:
    with open(f"/proc/sys/{path}") as f:
        return f.read().strip()


def prev_result(version: str, ns, ifname: str = "eth0") -> dict:
    """What a bridge ADD returns: the bridge (no sandbox), the container interface, an address."""
    ip = {"interface": 1, "address": "10.1.0.5/24", "gateway": "10.1.0.1"}
    return {"cniVersion": version,
            "interfaces": [{"name": "pnbr0", "mac": "02:00:00:00:00:01"},
                           {"name": ifname, "mac": link_info(ns, ifname)["mac"], "sandbox": ns.path}],
            "ips": [{"version": "4", **ip} if version < "1.0.0" else ip],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
            "dns": {"nameservers": ["10.1.0.1"]}}


def conf(version: str = "1.0.0", prev: dict | None = None, **extra) -> dict:
    out = {"cniVersion": version, "name": "tnet", "type": "tuning", **extra}
    if prev is not None:
        out["prevResult"] = prev
    return out


def cni(command: str, config: dict, ns, state: str, ifname: str = "eth0", env: dict | None = None, **kw):
    return run_plugin(TUNING, command, config, netns=ns.path if ns is not None else "", container_id="ctr1",
                      ifname=ifname, env={"PYNET_STATE_DIR": state, **(env or {})}, **kw)


def state_files(state: str) -> list[str]:
    directory = os.path.join(state, "tuning")
    return sorted(f for f in os.listdir(directory)) if os.path.isdir(directory) else []


def container_state(ns, ifname: str = "eth0") -> dict:
    return {"snapshot": ns.snapshot(switches=True), "link": link_info(ns, ifname),
            "somaxconn": sysctl(ns, "net/core/somaxconn"),
            "rp_filter": sysctl(ns, f"net/ipv4/conf/{ifname}/rp_filter")}


def expect_error(run, code: int, *words: str) -> dict:
    assert run.returncode != 0, run.stdout
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    error = run.json
    assert error["code"] == code, error
    text = error["msg"] + " " + error["details"]
    for word in words:
        assert word in text, error
    return error


# ---- ADD / CHECK / DEL -------------------------------------------------------------------------

@pytest.mark.parametrize("version", CHAINED)
def test_add_check_del_every_version(version, ctr, state):
    host_before = {p: host_sysctl(p) for p in ("net/core/somaxconn", "net/ipv4/conf/all/rp_filter",
                                               "net/ipv4/conf/default/rp_filter")}
    before = link_info(ctr)
    prev = prev_result(version, ctr)
    config = conf(version, prev, **FULL)

    added = cni("ADD", config, ctr, state)
    assert added.ok, added.stdout + added.stderr
    expected = copy.deepcopy(prev)
    expected["interfaces"][1]["mac"] = NEW_MAC
    assert added.json == expected  # prevResult, with only the container interface's mac changed
    assert link_info(ctr) == {"mac": NEW_MAC, "mtu": 1400, "promisc": True, "allmulti": True}
    assert sysctl(ctr, "net/core/somaxconn") == "1234"
    assert sysctl(ctr, "net/ipv4/conf/eth0/rp_filter") == "2"
    assert state_files(state) == ["ctr1-eth0.json"]
    saved = json.load(open(os.path.join(state, "tuning", "ctr1-eth0.json")))
    assert {k: saved[k] for k in ("mac", "mtu", "promisc", "allmulti")} == before

    if version >= "0.4.0":
        checked = cni("CHECK", {**config, "prevResult": added.json}, ctr, state)
        assert checked.ok and checked.stdout == "", checked.stdout

    for _ in range(2):  # DEL is idempotent
        deleted = cni("DEL", {**config, "prevResult": added.json}, ctr, state)
        assert deleted.ok and deleted.stdout == "", deleted.stdout
        assert link_info(ctr) == before
        assert state_files(state) == []
    assert {p: host_sysctl(p) for p in host_before} == host_before  # the host's own sysctls untouched


def test_result_is_converted_to_the_config_version(ctr, state):
    prev = prev_result("0.4.0", ctr)
    added = cni("ADD", conf("1.1.0", prev, mac=NEW_MAC), ctr, state)
    assert added.ok, added.stdout
    result = added.json
    assert result["cniVersion"] == "1.1.0"
    assert result["ips"] == [{"interface": 1, "address": "10.1.0.5/24", "gateway": "10.1.0.1"}]
    assert result["interfaces"][1]["mac"] == NEW_MAC


def test_only_the_interface_in_the_sandbox_gets_the_new_mac(ctr, state):
    prev = prev_result("1.0.0", ctr)
    prev["interfaces"][0]["name"] = "eth0"  # a host interface with the same name, no sandbox
    added = cni("ADD", conf("1.0.0", prev, mac="C2-11-22-33-44-66"), ctr, state)
    assert added.ok, added.stdout
    assert added.json["interfaces"][0]["mac"] == "02:00:00:00:00:01"
    assert added.json["interfaces"][1]["mac"] == "c2:11:22:33:44:66"  # as the kernel spells it
    assert link_info(ctr)["mac"] == "c2:11:22:33:44:66"


def test_without_mac_the_result_is_prev_result(ctr, state):
    prev = prev_result("1.0.0", ctr)
    added = cni("ADD", conf("1.0.0", prev, mtu=9000, sysctl={"net.core.somaxconn": "99"}), ctr, state)
    assert added.ok, added.stdout
    assert added.json == prev
    assert link_info(ctr)["mtu"] == 9000 and sysctl(ctr, "net/core/somaxconn") == "99"


@pytest.mark.parametrize("source,expected", [
    ("config", "c2:00:00:00:00:01"),
    ("CNI_ARGS", "c2:00:00:00:00:02"),
    ("runtimeConfig", "c2:00:00:00:00:03"),
    ("args.cni", "c2:00:00:00:00:04"),
])
def test_mac_sources_later_ones_win(source, expected, ctr, state):
    """config mac < CNI_ARGS MAC= < runtimeConfig.mac (the mac capability) < args.cni.mac."""
    order = ["config", "CNI_ARGS", "runtimeConfig", "args.cni"]
    used = order[:order.index(source) + 1]
    extra, args = {}, "IP=10.1.0.9"  # CNI_ARGS meant for other plugins of the chain are ignored
    if "config" in used:
        extra["mac"] = "c2:00:00:00:00:01"
    if "CNI_ARGS" in used:
        args += ";MAC=c2:00:00:00:00:02"
    if "runtimeConfig" in used:
        extra["capabilities"] = {"mac": True}
        extra["runtimeConfig"] = {"mac": "c2:00:00:00:00:03"}
    if "args.cni" in used:
        extra["args"] = {"cni": {"mac": "c2:00:00:00:00:04"}}
    before = link_info(ctr)
    config = conf("1.0.0", prev_result("1.0.0", ctr), **extra)
    added = cni("ADD", config, ctr, state, args=args)
    assert added.ok, added.stdout
    assert link_info(ctr)["mac"] == expected == added.json["interfaces"][1]["mac"]
    assert cni("CHECK", {**config, "prevResult": added.json}, ctr, state, args=args).ok
    assert cni("DEL", config, ctr, state, args=args).ok
    assert link_info(ctr) == before


def test_args_cni_override_and_add_sysctls(ctr, state):
    config = conf("1.0.0", prev_result("1.0.0", ctr), mtu=1400, sysctl={"net.core.somaxconn": "1000"},
                  args={"cni": {"mtu": 1300, "promisc": True, "sysctl": {"net.ipv4.conf.IFNAME.rp_filter": "1"}}})
    assert cni("ADD", config, ctr, state).ok
    assert link_info(ctr)["mtu"] == 1300 and link_info(ctr)["promisc"]
    assert sysctl(ctr, "net/core/somaxconn") == "1000"
    assert sysctl(ctr, "net/ipv4/conf/eth0/rp_filter") == "1"


def test_false_turns_promisc_and_allmulti_off_and_del_turns_them_back_on(ctr, state):
    ctr.run("ip", "link", "set", "eth0", "promisc", "on", "allmulticast", "on")
    config = conf("1.0.0", prev_result("1.0.0", ctr), promisc=False, allmulti=False)
    assert cni("ADD", config, ctr, state).ok
    assert not link_info(ctr)["promisc"] and not link_info(ctr)["allmulti"]
    assert cni("CHECK", config, ctr, state).ok
    assert cni("DEL", config, ctr, state).ok
    assert link_info(ctr)["promisc"] and link_info(ctr)["allmulti"]


def test_interface_name_with_dots(make_container, state):
    ns = make_container("eth0.100")
    config = conf("1.0.0", prev_result("1.0.0", ns, "eth0.100"), mtu=1450,
                  sysctl={"net.ipv4.conf.IFNAME.rp_filter": "2", "net.ipv6.conf.eth0.100.disable_ipv6": "1"})
    added = cni("ADD", config, ns, state, ifname="eth0.100")
    assert added.ok, added.stdout
    assert sysctl(ns, "net/ipv4/conf/eth0.100/rp_filter") == "2"
    assert sysctl(ns, "net/ipv6/conf/eth0.100/disable_ipv6") == "1"
    assert link_info(ns, "eth0.100")["mtu"] == 1450
    assert cni("CHECK", config, ns, state, ifname="eth0.100").ok
    assert cni("DEL", config, ns, state, ifname="eth0.100").ok
    assert link_info(ns, "eth0.100")["mtu"] == 1500


def test_multi_value_sysctl_checks_as_the_kernel_prints_it(ctr, state):
    config = conf("1.0.0", prev_result("1.0.0", ctr), sysctl={"net.ipv4.ip_local_port_range": "20000 30000"})
    assert cni("ADD", config, ctr, state).ok
    assert sysctl(ctr, "net/ipv4/ip_local_port_range").split() == ["20000", "30000"]
    checked = cni("CHECK", config, ctr, state)
    assert checked.ok, checked.stdout
    assert state_files(state) == []  # sysctls only: nothing to restore on DEL, no file


def test_sysctls_only_need_no_interface(ctr, state):
    ctr.run("ip", "link", "del", "eth0")
    added = cni("ADD", conf("1.0.0", {"cniVersion": "1.0.0"}, sysctl={"net.core.somaxconn": "777"}), ctr, state)
    assert added.ok, added.stdout
    assert sysctl(ctr, "net/core/somaxconn") == "777"


def test_add_twice_keeps_the_first_saved_values(ctr, state):
    before = link_info(ctr)
    prev = prev_result("1.0.0", ctr)
    assert cni("ADD", conf("1.0.0", prev, mtu=1400, mac=NEW_MAC), ctr, state).ok
    assert cni("ADD", conf("1.0.0", prev, mtu=1300, mac="c2:00:00:00:00:09", promisc=True), ctr, state).ok
    assert link_info(ctr) == {"mac": "c2:00:00:00:00:09", "mtu": 1300, "promisc": True, "allmulti": False}
    assert cni("DEL", conf("1.0.0"), ctr, state).ok
    assert link_info(ctr) == before


def test_check_reports_every_difference(ctr, state):
    config = conf("1.0.0", prev_result("1.0.0", ctr), **FULL)
    added = cni("ADD", config, ctr, state)
    assert added.ok
    ctr.run("ip", "link", "set", "eth0", "mtu", "1500", "promisc", "off", "address", "c2:00:00:00:00:77")
    ctr.run("sh", "-c", "echo 100 > /proc/sys/net/core/somaxconn")
    error = expect_error(cni("CHECK", {**config, "prevResult": added.json}, ctr, state), 105)
    for words in ("somaxconn is '100', configured '1234'", "mtu of eth0 is 1500, configured 1400",
                  "promisc of eth0 is off, configured on", "mac of eth0 is c2:00:00:00:00:77"):
        assert words in error["details"], error
    assert "allmulti" not in error["details"] and "rp_filter" not in error["details"]
    ctr.run("ip", "link", "del", "eth0")
    error = expect_error(cni("CHECK", {**config, "prevResult": added.json}, ctr, state), 105)
    assert "interface eth0 is missing" in error["details"]
    assert "rp_filter does not exist" in error["details"]


# ---- DEL when things are gone ----------------------------------------------------------------

def test_del_after_the_netns_is_gone(ctr, state):
    config = conf("1.0.0", prev_result("1.0.0", ctr), **FULL)
    assert cni("ADD", config, ctr, state).ok
    ctr.delete()
    for _ in range(2):
        deleted = cni("DEL", config, ctr, state)
        assert deleted.ok and deleted.stdout == "", deleted.stdout
        assert state_files(state) == []


def test_del_after_the_interface_is_gone(ctr, state):
    config = conf("1.0.0", prev_result("1.0.0", ctr), mtu=1400)
    assert cni("ADD", config, ctr, state).ok
    ctr.run("ip", "link", "del", "eth0")
    deleted = cni("DEL", config, ctr, state)
    assert deleted.ok and deleted.stdout == "", deleted.stdout
    assert state_files(state) == []


def test_del_does_not_touch_a_new_interface_of_the_same_name(ctr, state):
    config = conf("1.0.0", prev_result("1.0.0", ctr), mtu=1400)
    assert cni("ADD", config, ctr, state).ok
    ctr.run("ip", "link", "del", "eth0")
    ctr.run("ip", "link", "add", "eth0", "mtu", "1600", "type", "veth", "peer", "name", "peer1")
    assert cni("DEL", config, ctr, state).ok
    assert link_info(ctr)["mtu"] == 1600
    assert state_files(state) == []


def test_del_without_add_and_without_netns(ctr, state):
    assert cni("DEL", conf("1.0.0"), ctr, state).ok
    assert cni("ADD", conf("1.0.0", prev_result("1.0.0", ctr), mtu=1400), ctr, state).ok
    deleted = cni("DEL", conf("1.0.0"), None, state)  # no CNI_NETNS: nothing to restore, forget the file
    assert deleted.ok and deleted.stdout == "", deleted.stdout
    assert state_files(state) == []


# ---- failures leave the container as it was ----------------------------------------------------

@pytest.mark.parametrize("fail_at", range(1, FULL_STEPS + 2))
def test_failure_after_every_step_rolls_back(fail_at, ctr, state):
    """PYNET_FAIL_AT=n fails the ADD right after its n-th change: the container is as before and no
    saved-settings file is left. One step past the last, the ADD succeeds: every step is covered."""
    before = container_state(ctr)
    added = cni("ADD", conf("1.0.0", prev_result("1.0.0", ctr), **FULL), ctr, state,
                env={"PYNET_FAIL_AT": str(fail_at)})
    if fail_at > FULL_STEPS:
        assert added.ok, added.stdout
        return
    assert added.returncode != 0 and "injected fault" in added.json["msg"], added.stdout
    assert container_state(ctr) == before
    assert state_files(state) == []


def test_failure_of_a_later_add_restores_the_earlier_saved_file(ctr, state):
    prev = prev_result("1.0.0", ctr)
    assert cni("ADD", conf("1.0.0", prev, mtu=1400), ctr, state).ok
    path = os.path.join(state, "tuning", "ctr1-eth0.json")
    saved = open(path).read()
    failed = cni("ADD", conf("1.0.0", prev, mtu=1300, mac=NEW_MAC), ctr, state, env={"PYNET_FAIL_AT": "3"})
    assert failed.returncode != 0
    assert open(path).read() == saved
    assert link_info(ctr)["mtu"] == 1400


def test_kernel_refusal_rolls_back(ctr, state):
    """A value the kernel refuses fails the ADD (code 101) after the sysctls before it were written."""
    before = container_state(ctr)
    config = conf("1.0.0", prev_result("1.0.0", ctr), mtu=1400,
                  sysctl={"net.core.somaxconn": "1234", "net.ipv4.conf.IFNAME.rp_filter": "not-a-number"})
    expect_error(cni("ADD", config, ctr, state), 101, "rp_filter")
    assert container_state(ctr) == before
    assert state_files(state) == []


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key,words", [
    ("kernel.hostname", "not allowed"),
    ("vm.swappiness", "not allowed"),
    ("fs.file-max", "not allowed"),
    ("net", "not allowed"),
    ("net.core..somaxconn", ".."),
    ("net.ipv4.conf.eth0.....kernel.hostname", ".."),
    ("net/core/somaxconn", "/"),
    ("net.ipv4.conf.IFNAME/../../../../kernel/hostname", "/"),
    (".net.core.somaxconn", "empty"),
    ("net.core.somaxconn.", "empty"),
    ("net.core.no_such_sysctl", "does not exist"),
    ("net.ipv4.conf.IFNAME.no_such_sysctl", "does not exist"),
    ("net.ipv4.conf.eth9.rp_filter", "does not exist"),
    ("net.ipv4.conf", "directory"),
    ("net.core.somaxconn x", "whitespace"),
])
def test_rejected_sysctls_change_nothing(key, words, ctr, state):
    host_before = host_sysctl("kernel/hostname"), host_sysctl("vm/swappiness"), host_sysctl("net/core/somaxconn")
    before = container_state(ctr)
    # a good sysctl first and link settings too: nothing may be applied before the bad one is refused
    config = conf("1.0.0", prev_result("1.0.0", ctr), mac=NEW_MAC, mtu=1400, promisc=True,
                  sysctl={"net.core.somaxconn": "1234", key: "1"})
    expect_error(cni("ADD", config, ctr, state), 7, key, words)
    assert container_state(ctr) == before
    assert state_files(state) == []
    assert (host_sysctl("kernel/hostname"), host_sysctl("vm/swappiness"),
            host_sysctl("net/core/somaxconn")) == host_before
    # CHECK refuses a bad name as ADD does; one merely missing from the namespace is a difference
    expect_error(cni("CHECK", config, ctr, state), 105 if words == "does not exist" else 7, key)


def test_duplicated_sysctl_keys(ctr, state):
    prev = json.dumps(prev_result("1.0.0", ctr))
    stdin = ('{"cniVersion": "1.0.0", "name": "tnet", "type": "tuning", "prevResult": ' + prev +
             ', "sysctl": {"net.core.somaxconn": "1000", "net.core.somaxconn": "2000"}}').encode()
    expect_error(cni("ADD", {}, ctr, state, stdin=stdin), 7, "duplicated", "net.core.somaxconn")
    expect_error(cni("ADD", conf("1.0.0", json.loads(prev), sysctl={
        "net.ipv4.conf.IFNAME.rp_filter": "1", "net.ipv4.conf.eth0.rp_filter": "2"}), ctr, state), 7, "conflicting")


@pytest.mark.parametrize("extra,words", [
    ({"mac": "zz:11:22:33:44:55"}, ["mac", "zz:11"]),
    ({"mac": "c2:11:22:33:44"}, ["mac"]),
    ({"mac": "01:00:5e:00:00:01"}, ["mac", "unicast"]),
    ({"mac": "00:00:00:00:00:00"}, ["mac", "unicast"]),
    ({"mac": 5}, ["mac"]),
    ({"runtimeConfig": {"mac": "nope"}}, ["runtimeConfig.mac"]),
    ({"args": {"cni": {"mac": "nope"}}}, ["args.cni.mac"]),
    ({"mtu": 67}, ["mtu", "68", "65535"]),
    ({"mtu": 65536}, ["mtu"]),
    ({"mtu": -1}, ["mtu"]),
    ({"mtu": "1500"}, ["mtu"]),
    ({"mtu": True}, ["mtu"]),
    ({"mtu": 1500.5}, ["mtu"]),
    ({"args": {"cni": {"mtu": 10}}}, ["args.cni.mtu"]),
    ({"promisc": "yes"}, ["promisc"]),
    ({"promisc": 1}, ["promisc"]),
    ({"allmulti": "no"}, ["allmulti"]),
    ({"sysctl": ["net.core.somaxconn"]}, ["sysctl"]),
    ({"sysctl": {"net.core.somaxconn": ["1"]}}, ["net.core.somaxconn"]),
    ({"sysctl": {"net.core.somaxconn": True}}, ["net.core.somaxconn"]),
    ({"args": {"cni": "mac"}}, ["args.cni"]),
    ({"dataDir": "relative/dir"}, ["dataDir"]),
])
def test_bad_values_are_code_7_and_change_nothing(extra, words, ctr, state):
    before = container_state(ctr)
    config = conf("1.0.0", prev_result("1.0.0", ctr), **{"sysctl": {"net.core.somaxconn": "1234"}, **extra})
    expect_error(cni("ADD", config, ctr, state), 7, *words)
    assert container_state(ctr) == before
    assert state_files(state) == []


def test_bad_mac_in_cni_args(ctr, state):
    expect_error(cni("ADD", conf("1.0.0", prev_result("1.0.0", ctr)), ctr, state, args="MAC=12345"),
                 7, "CNI_ARGS MAC")


@pytest.mark.parametrize("command", ["ADD", "CHECK"])
def test_prev_result_is_required(command, ctr, state):
    before = container_state(ctr)
    expect_error(cni(command, conf("1.0.0", None, **FULL), ctr, state), 7, "prevResult", "chained")
    assert container_state(ctr) == before


def test_link_settings_need_the_interface(ctr, state):
    ctr.run("ip", "link", "del", "eth0")
    expect_error(cni("ADD", conf("1.0.0", {"cniVersion": "1.0.0"}, mtu=1400), ctr, state), 7, "eth0")
    assert state_files(state) == []


def test_add_to_missing_netns_is_code_3(token, state):
    run = run_plugin(TUNING, "ADD", conf("1.0.0", {"cniVersion": "1.0.0"}, mtu=1400),
                     netns=f"/run/netns/pnt-{token}-missing", env={"PYNET_STATE_DIR": state})
    expect_error(run, 3)


# ---- side by side with the Go reference --------------------------------------------------------

@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_same_as_reference(version, make_container, tmp_path):
    """Same result and same kernel state as the Go reference (1.1.1 speaks up to 1.0.0). The
    reference labels 1.0.0-shaped results with older versions (no ips[].version) and prints an
    empty dns in 0.x; sandbox paths differ by namespace."""
    if not os.path.exists(reference_path("tuning")):
        pytest.skip("Go reference plugins not installed (Debian containernetworking-plugins)")
    ours, theirs = make_container(role="o"), make_container(role="r")
    settings = {"sysctl": {"net.core.somaxconn": "1234", "net.ipv4.conf.IFNAME.rp_filter": "2"},
                "mac": NEW_MAC, "mtu": 1400, "promisc": True, "allmulti": True,
                "dataDir": str(tmp_path / "data")}  # pynet's file: ctr1-eth0.json, the reference's: ctr1_eth0.json
    before = {"o": link_info(ours), "r": link_info(theirs)}
    runs = {}
    for key, ns, plugin in (("o", ours, TUNING), ("r", theirs, reference_path("tuning"))):
        config = conf(version, prev_result(version, ns), **settings)
        runs[key] = run_plugin(plugin, "ADD", config, netns=ns.path, container_id="ctr1",
                               cni_path="/usr/lib/cni")
        assert runs[key].ok, runs[key].stdout + runs[key].stderr

    def normalised(result: dict) -> dict:
        result = copy.deepcopy(result)
        result["interfaces"][1]["sandbox"] = "SANDBOX"
        for ip in result.get("ips", []):
            ip.pop("version", None)
        if not result.get("dns"):
            result.pop("dns", None)
        return result

    assert normalised(runs["o"].json) == normalised(runs["r"].json)
    assert link_info(ours) == link_info(theirs)
    for path in ("net/core/somaxconn", "net/ipv4/conf/eth0/rp_filter"):
        assert sysctl(ours, path) == sysctl(theirs, path)
    for key, ns, plugin in (("o", ours, TUNING), ("r", theirs, reference_path("tuning"))):
        deleted = run_plugin(plugin, "DEL", conf(version, None, **settings), netns=ns.path, container_id="ctr1",
                             cni_path="/usr/lib/cni")
        assert deleted.ok, deleted.stdout
        assert link_info(ns) == before[key]
    assert os.listdir(tmp_path / "data") == []
