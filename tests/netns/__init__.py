"""Throwaway network namespaces for tests: "containers" and simulated "hosts".

Every name carries a per-test token, so tests can run in parallel (pytest -n auto) and a leak
check can find exactly what one test left behind.
"""

from . import state
from .leaks import agent_files, dns_servers, processes_in, root_leftovers
from .namespaces import Netns, link_outside, new_token, wait_until
from .plugin import PluginRun, install_plugins, plugin_path, reference_path, run_plugin

__all__ = ["Netns", "PluginRun", "install_plugins", "link_outside", "new_token", "plugin_path", "reference_path",
           "agent_files", "dns_servers", "processes_in", "root_leftovers", "run_plugin", "state", "wait_until"]
