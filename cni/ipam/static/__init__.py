"""static: the addresses, routes and DNS written in the configuration (or asked for in CNI_ARGS)."""

from ...skel import Plugin

PLUGIN = Plugin(name="static", commands="cni.ipam.static.commands",
                uses_netns=False,
                summary="IPAM: fixed addresses from the configuration, CNI_ARGS or the ips capability")


def main() -> int:
    return PLUGIN.main()
