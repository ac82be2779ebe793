"""tuning: a chained plugin that sets sysctls inside the container's namespace and the MAC, MTU,
promiscuous and all-multicast mode of the container's interface."""

from ...skel import Plugin

PLUGIN = Plugin(name="tuning", commands="cni.plugins.tuning.commands",
                summary="chained: net.* sysctls in the container, MAC/MTU/promisc/allmulti of its interface")


def main() -> int:
    return PLUGIN.main()
