"""overlay: containers on several hosts in one network over VXLAN (the Flannel VXLAN scheme), with
per-host subnet leases in a shared store (a flock'ed file or etcd v3)."""

from ...skel import Plugin

PLUGIN = Plugin(name="overlay", commands="cni.plugins.overlay.commands",
                summary="containers on several hosts in one network over VXLAN, leases in a file or etcd")


def main() -> int:
    return PLUGIN.main()
