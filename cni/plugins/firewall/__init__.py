"""firewall: accepts the container's forwarded traffic (chained after a network plugin)."""

from ...skel import Plugin

PLUGIN = Plugin(name="firewall", commands="cni.plugins.firewall.commands",
                summary="accepts forwarded traffic to and from the container's addresses")


def main() -> int:
    return PLUGIN.main()
