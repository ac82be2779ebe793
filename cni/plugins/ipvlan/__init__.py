"""ipvlan: the container gets a link sharing a host interface's MAC address, told apart by IP (l2, l3, l3s)."""

from ...skel import Plugin

PLUGIN = Plugin(name="ipvlan", commands="cni.plugins.ipvlan.commands",
                summary="an ipvlan link on a host interface (shares its MAC), moved into the container")


def main() -> int:
    return PLUGIN.main()
