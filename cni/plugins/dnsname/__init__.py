"""dnsname: containers on a network find each other by name, chained after bridge or overlay (the
configuration of the dnsname plugin Podman's CNI backend uses)."""

from ...skel import Plugin

PLUGIN = Plugin(name="dnsname", commands="cni.plugins.dnsname.commands",
                summary="names of the network's containers served by the host's DNS server on the gateway",
                uses_netns=False)


def main() -> int:
    return PLUGIN.main()
