"""bridge: docker0-style networking: a Linux bridge on the host, a veth pair per container, the
gateway address on the bridge, forwarding and masquerade."""

from ...skel import Plugin

PLUGIN = Plugin(name="bridge", commands="cni.plugins.bridge.commands",
                summary="containers on a Linux bridge through veth pairs, with gateway and masquerade")


def main() -> int:
    return PLUGIN.main()
