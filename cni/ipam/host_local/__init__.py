"""host-local: addresses from configured ranges, reserved on local disk (the reference's format)."""

from ...skel import Plugin

PLUGIN = Plugin(name="host-local", commands="cni.ipam.host_local.commands",
                uses_netns=False,
                summary="IPAM: addresses from local ranges, stored on disk like the reference")


def main() -> int:
    return PLUGIN.main()
