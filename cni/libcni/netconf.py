"""Network configurations from a directory, as libcni loads them.

`*.conflist` files are network configuration lists; `*.conf` and `*.json` files hold a single plugin
configuration and are wrapped into a one-plugin list (libcni's ConfListFromConf). Files are read in
lexical order of their names, whatever the extension, and the first file wins for a network name
(as Podman and ocicni do; libcni's LoadConfList looks at .conflist files before the others).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..spec.env import name_problem
from ..spec.versions import LATEST, SUPPORTED, key
from .errors import ConfigError, NetworkNotFound

DEFAULT_CONF_DIR = "/etc/cni/net.d"
LIST_EXTENSIONS = (".conflist",)
SINGLE_EXTENSIONS = (".conf", ".json")


@dataclass(frozen=True)
class NetworkConfig:
    """One network: its plugin chain and the negotiated cniVersion; `raw` is the list's bytes (what
    the result cache stores), `path` the file it came from ("" when built in memory)."""

    name: str
    cni_version: str
    plugins: list = field(default_factory=list)
    disable_check: bool = False
    disable_gc: bool = False
    raw: bytes = b""
    path: str = ""

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "") -> "NetworkConfig":
        """A network configuration list (the content of a .conflist)."""
        return _parse_list(data, path)

    @classmethod
    def from_dict(cls, obj: dict, path: str = "") -> "NetworkConfig":
        """A network configuration list given as a dict (a single plugin config is wrapped)."""
        data = json.dumps(obj).encode()
        return _parse_list(data, path) if "plugins" in obj else _parse_single(data, path)


def conf_dir_of(conf_dir: str | None = None) -> str:
    """The configuration directory: the argument, else $PYNET_CNI_CONF_DIR, else /etc/cni/net.d."""
    return conf_dir or os.environ.get("PYNET_CNI_CONF_DIR") or DEFAULT_CONF_DIR


def _load_json(data: bytes, path: str) -> dict:
    try:
        obj = json.loads(data)
    except UnicodeDecodeError as e:
        raise ConfigError(path, f"not UTF-8 text ({e})") from None
    except ValueError as e:
        raise ConfigError(path, f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ConfigError(path, "must hold one JSON object")
    return obj


def _flag(obj: dict, name: str, path: str) -> bool:
    """A boolean key; like libcni, "true"/"false" strings are accepted too."""
    value = obj.get(name, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ConfigError(path, f"{name} must be true or false, not {value!r}")
    return value


def _semver(value, what: str, path: str) -> tuple[int, ...]:
    try:
        parts = key(value)
        if len(parts) == 3:
            return parts
    except (ValueError, AttributeError):
        pass
    raise ConfigError(path, f"{what} {value!r} is not a version such as \"1.0.0\"")


def negotiate(obj: dict, path: str) -> str:
    """The cniVersion to speak: the highest of cniVersion and cniVersions that pynet knows (libcni
    1.1 skips versions above its own); it must be one pynet supports."""
    version = obj.get("cniVersion", "")
    if not isinstance(version, str):
        raise ConfigError(path, f"cniVersion must be a string, not {version!r}")
    versions = obj.get("cniVersions")
    if versions is not None:
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise ConfigError(path, "cniVersions must be a list of version strings")
        candidates = [(_semver(v, "cniVersions entry", path), v) for v in versions]
        if version:
            candidates.append((_semver(version, "cniVersion", path), version))
        usable = [c for c in candidates if c[0] <= key(LATEST)]
        if usable:
            version = max(usable)[1]
    if not version:
        raise ConfigError(path, f"no cniVersion: set \"cniVersion\" to one of {', '.join(SUPPORTED)}")
    if version not in SUPPORTED:
        raise ConfigError(path, f"cniVersion {version!r} is not supported by pynet "
                                f"(it speaks {', '.join(SUPPORTED)})")
    return version


def _plugin(obj, where: str, path: str) -> dict:
    if not isinstance(obj, dict):
        raise ConfigError(path, f"{where} must be a JSON object")
    plugin_type = obj.get("type")
    if not isinstance(plugin_type, str) or not plugin_type:
        if "plugins" in obj:
            raise ConfigError(path, f"{where} has \"plugins\" but no \"type\": a network configuration list "
                                    "must be in a file named *.conflist")
        raise ConfigError(path, f"{where} has no \"type\" (the name of the plugin executable)")
    if "/" in plugin_type or "\\" in plugin_type or plugin_type in (".", ".."):
        raise ConfigError(path, f"{where}: type {plugin_type!r} must be a plugin name, not a path")
    return obj


def _name(obj: dict, path: str) -> str:
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(path, "no network \"name\"")
    problem = name_problem(name)
    if problem:
        raise ConfigError(path, f"invalid network name {name[:80]!r}: {problem}")
    return name


def _sibling_plugins(path: str, name: str) -> list[dict]:
    """Plugin configurations in <dir>/<network name>/*.conf (the spec's aggregated plugins)."""
    folder = os.path.join(os.path.dirname(path), name)
    if not path or not os.path.isdir(folder):
        return []
    out = []
    for file in sorted(f for f in os.listdir(folder) if f.endswith(".conf")):
        file = os.path.join(folder, file)
        if os.path.isfile(file):
            out.append(_plugin(_load_json(_read(file), file), "plugin configuration", file))
    return out


def _parse_list(data: bytes, path: str) -> NetworkConfig:
    obj = _load_json(data, path)
    name = _name(obj, path)
    version = negotiate(obj, path)
    inlined_only = _flag(obj, "loadOnlyInlinedPlugins", path)
    plugins = obj.get("plugins")
    if plugins is None and inlined_only:
        raise ConfigError(path, "loadOnlyInlinedPlugins is true but there is no \"plugins\" list")
    if plugins is not None and (not isinstance(plugins, list) or not plugins):
        raise ConfigError(path, "\"plugins\" must be a non-empty list of plugin configurations")
    plugins = [_plugin(p, f"plugins[{n}]", path) for n, p in enumerate(plugins or [])]
    if not inlined_only:
        plugins += _sibling_plugins(path, name)
    if not plugins:
        raise ConfigError(path, "no plugins: add a \"plugins\" list")
    return NetworkConfig(name=name, cni_version=version, plugins=plugins,
                         disable_check=_flag(obj, "disableCheck", path), disable_gc=_flag(obj, "disableGC", path),
                         raw=bytes(data), path=path)


def _parse_single(data: bytes, path: str) -> NetworkConfig:
    """A single plugin configuration, wrapped into a one-plugin list (libcni's ConfListFromConf)."""
    obj = _plugin(_load_json(data, path), "the plugin configuration", path)
    wrapped = {"cniVersion": obj.get("cniVersion", ""), "name": obj.get("name", ""), "plugins": [obj]}
    # Go's json.Marshal of a map: sorted keys, no spaces (these bytes go into the result cache)
    return _parse_list(json.dumps(wrapped, sort_keys=True, separators=(",", ":")).encode(), path)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(path, f"cannot read it: {e.strerror}") from None


def load_file(path: str) -> NetworkConfig:
    """The network of one file (.conflist, or .conf/.json for a single plugin)."""
    parse = _parse_list if path.endswith(LIST_EXTENSIONS) else _parse_single
    return parse(_read(path), path)


def conf_files(conf_dir: str) -> list[str]:
    """The configuration files of `conf_dir` in lexical order (none if it does not exist)."""
    try:
        names = os.listdir(conf_dir)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise ConfigError(conf_dir, f"cannot list it: {e.strerror}") from None
    files = (os.path.join(conf_dir, n) for n in sorted(names) if n.endswith(LIST_EXTENSIONS + SINGLE_EXTENSIONS))
    return [f for f in files if os.path.isfile(f)]


def _declared_name(path: str):
    """The name a broken file meant to define, when it can still be read."""
    try:
        obj = json.loads(_read(path))
        return obj.get("name") if isinstance(obj, dict) else None
    except (ValueError, ConfigError):
        return None


def load_networks(conf_dir: str | None = None, on_error=None) -> list[NetworkConfig]:
    """Every network of the directory, first file first; a later file with a known name is ignored.

    A bad file raises ConfigError, unless `on_error` is given: then it is called with the error and
    the file is skipped (for listings that should survive one broken file).
    """
    seen: dict[str, NetworkConfig] = {}
    for path in conf_files(conf_dir_of(conf_dir)):
        try:
            net = load_file(path)
        except ConfigError as e:
            if on_error is None:
                raise
            on_error(e)
            continue
        seen.setdefault(net.name, net)
    return list(seen.values())


def load_network(name: str, conf_dir: str | None = None) -> NetworkConfig:
    """The network `name`, from the first file that defines it. A broken file that comes first and
    names this network raises ConfigError; NetworkNotFound lists the broken files (one may have meant it)."""
    conf_dir = conf_dir_of(conf_dir)
    broken: list[ConfigError] = []
    for path in conf_files(conf_dir):
        try:
            net = load_file(path)
        except ConfigError as e:
            if _declared_name(path) == name:
                raise
            broken.append(e)
            continue
        if net.name == name:
            return net
    raise NetworkNotFound(name, conf_dir, broken)
