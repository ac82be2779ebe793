"""loopback: brings `lo` up in the container's network namespace."""

from ...skel import Plugin

PLUGIN = Plugin(name="loopback", commands="cni.plugins.loopback.commands",
                summary="brings lo up in the container's network namespace")


def main() -> int:
    return PLUGIN.main()
