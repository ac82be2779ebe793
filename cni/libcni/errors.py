"""What the runtime raises: every failure is a CNIRuntimeError whose str() is one clear line."""

from __future__ import annotations


class CNIRuntimeError(Exception):
    """A network operation of the runtime failed (a bad file, a missing plugin, a plugin's error)."""


class ConfigError(CNIRuntimeError):
    """A network configuration file (or document) that cannot be used; `path` names it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'network configuration'}: {problem}")
        self.path = path
        self.problem = problem


class NetworkNotFound(CNIRuntimeError):
    """No configuration file in the directory defines the network."""

    def __init__(self, name: str, conf_dir: str, broken: list | None = None) -> None:
        text = (f"no network named {name!r} in {conf_dir} "
                "(*.conflist, *.conf and *.json files; set PYNET_CNI_CONF_DIR for another directory)")
        if broken:
            text += "; these files could not be read and may have meant it: " + "; ".join(map(str, broken))
        super().__init__(text)
        self.name = name
        self.conf_dir = conf_dir
        self.broken = list(broken or [])


class PluginNotFound(CNIRuntimeError):
    """The plugin executable is not in any CNI_PATH directory (or the type is not a file name)."""

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"plugin {plugin!r}: {reason}")
        self.plugin = plugin


class PluginError(CNIRuntimeError):
    """A plugin failed: the CNI error it reported (code, msg, details), or a clear one when it
    printed none (code 6 for output that is not the CNI JSON it owed, 100 for a silent failure)."""

    def __init__(self, plugin: str, command: str, code: int, msg: str, details: str = "", network: str = "") -> None:
        where = f" on network {network!r}" if network else ""
        text = f"plugin {plugin} failed ({command}){where}: [code {code}] {msg}"
        super().__init__(f"{text}: {details}" if details else text)
        self.plugin = plugin
        self.command = command
        self.code = code
        self.msg = msg
        self.details = details
        self.network = network

    def to_dict(self) -> dict:
        """The spec's error structure, with the plugin and command it came from."""
        return {"code": self.code, "msg": self.msg, "details": self.details, "plugin": self.plugin,
                "command": self.command}
