"""portmap: publish container ports on the host (`-p 8080:80`), chained after a network plugin."""

from ...skel import Plugin

PLUGIN = Plugin(name="portmap", commands="cni.plugins.portmap.commands",
                summary="publishes container ports on the host through nftables maps")


def main() -> int:
    return PLUGIN.main()
