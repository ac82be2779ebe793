"""What libcni does, in Python: load network configurations, run plugin chains, keep the result cache.

    from cni.libcni import CNIConfig, RuntimeConf, load_network
    net = load_network("mynet")                      # /etc/cni/net.d, or $PYNET_CNI_CONF_DIR
    cni = CNIConfig()                                # $CNI_PATH, cache in /var/lib/cni/results
    result = cni.add(net, RuntimeConf("c1", "/run/netns/c1"))
    cni.delete(net, RuntimeConf("c1", "/run/netns/c1"))
"""

from .api import CNIConfig, GCError
from .cache import ResultCache
from .conf import RuntimeConf
from .errors import CNIRuntimeError, ConfigError, NetworkNotFound, PluginError, PluginNotFound
from .netconf import NetworkConfig, load_file, load_network, load_networks

__all__ = ["CNIConfig", "CNIRuntimeError", "ConfigError", "GCError", "NetworkConfig", "NetworkNotFound",
           "PluginError", "PluginNotFound", "ResultCache", "RuntimeConf", "load_file", "load_network",
           "load_networks"]
