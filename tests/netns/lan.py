"""A simulated host whose uplink m0 is a veth to a LAN namespace (192.168.50.100/24 on lan0), and two
containers: the setting of the macvlan and ipvlan tests."""

from __future__ import annotations

from .plugin import run_plugin


def lan_lab(make_netns, tmp_path) -> dict:
    host, lan, c1, c2 = make_netns("h"), make_netns("l"), make_netns("a"), make_netns("b")
    host.run("ip", "link", "add", "m0", "type", "veth", "peer", "name", "lan0", "netns", lan.name)
    host.run("ip", "link", "set", "m0", "up")
    lan.run("ip", "addr", "add", "192.168.50.100/24", "dev", "lan0")
    lan.run("ip", "link", "set", "lan0", "up")
    return {"host": host, "lan": lan, "c1": c1, "c2": c2, "data": str(tmp_path / "ipam")}


def lan_conf(lab, plugin: str, mode: str, version: str = "1.0.0", **extra) -> dict:
    """A configuration on master m0 with host-local addresses in 192.168.50.0/24."""
    return {"cniVersion": version, "name": "lannet", "type": plugin, "master": "m0", "mode": mode,
            "ipam": {"type": "host-local", "dataDir": lab["data"], "ranges": [[{"subnet": "192.168.50.0/24"}]]},
            **extra}


def lan_cni(executable: str, lab, command: str, config, container: str = "c1", **kw):
    """Run a plugin in the simulated host for container c1 or c2 (container id id-c1 / id-c2)."""
    return run_plugin(executable, command, config, netns=lab[container].path, container_id=f"id-{container}",
                      cni_path=kw.pop("cni_path", "/usr/lib/cni"), host=lab["host"].name, **kw)


def ping(ns, address: str) -> bool:
    return ns.run("ping", "-c1", "-W2", address, check=False).returncode == 0
