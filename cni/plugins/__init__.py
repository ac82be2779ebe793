"""pynet's plugins, by their reference names, and the module holding each one's Plugin."""

# reference type name -> module with PLUGIN and main()
PLUGINS = {
    "loopback": "cni.plugins.loopback",
    "bridge": "cni.plugins.bridge",
    "portmap": "cni.plugins.portmap",
    "macvlan": "cni.plugins.macvlan",
    "ipvlan": "cni.plugins.ipvlan",
    "firewall": "cni.plugins.firewall",
    "tuning": "cni.plugins.tuning",
    "overlay": "cni.plugins.overlay",
    "dnsname": "cni.plugins.dnsname",
    "host-local": "cni.ipam.host_local",
    "static": "cni.ipam.static",
}


def load(name: str):
    """The Plugin called `name` (its reference name)."""
    import importlib

    return importlib.import_module(PLUGINS[name]).PLUGIN
