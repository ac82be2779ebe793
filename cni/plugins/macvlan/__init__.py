"""macvlan: the container gets its own MAC address directly on a host interface (no bridge, no NAT)."""

from ...skel import Plugin

PLUGIN = Plugin(name="macvlan", commands="cni.plugins.macvlan.commands",
                summary="a macvlan link on a host interface, moved into the container")


def main() -> int:
    return PLUGIN.main()
