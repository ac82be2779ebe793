"""CNIConfig: run a network's plugin chain as libcni does (ADD, DEL, CHECK, GC, STATUS, VERSION).

ADD runs the plugins in order, each with the previous one's result (in the network's version) as
prevResult, and caches the last result; like libcni it does not undo a half-done chain: the caller
runs DEL after a failed ADD. DEL runs them in reverse with the cached result, goes on without one,
and removes the cache entry. CHECK replays the cached result. GC deletes cached attachments that
are not live, then asks each plugin to collect garbage.
"""

from __future__ import annotations

import json
import logging
import os

from .. import invoke
from ..spec import CNIError
from ..spec.result import parse_result
from ..spec.versions import at_least
from .cache import ResultCache, encode
from .conf import RuntimeConf, plugin_stdin
from .errors import CNIRuntimeError, PluginError, PluginNotFound

DEFAULT_PATH = ("/opt/cni/bin",)
NO_CNI_ERROR = 999  # a plugin failed without printing a CNI error (the Go skeleton's "unknown" code)
DECODE_FAILURE = 6

log = logging.getLogger("cni.libcni")


class GCError(CNIRuntimeError):
    """GC went through every attachment and plugin; these steps failed (`errors`)."""

    def __init__(self, network: str, failures: list[CNIRuntimeError]) -> None:
        super().__init__(f"GC of network {network!r}: " + "; ".join(str(e) for e in failures))
        self.errors = failures


def _attachment(value) -> tuple[str, str]:
    """(container id, ifname) from a pair, a RuntimeConf or a {"containerID", "ifname"} dict."""
    if isinstance(value, RuntimeConf):
        return value.container_id, value.ifname
    if isinstance(value, dict):
        value = (value.get("containerID"), value.get("ifname"))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise CNIRuntimeError(f"a valid attachment is (container id, ifname), not {value!r}")


class CNIConfig:
    """Runs plugins found in `path` (default $CNI_PATH, else /opt/cni/bin) and caches results in
    `cache_dir` (default $PYNET_CNI_CACHE_DIR, else /var/lib/cni). `env` adds variables to the
    plugins' environment; `host_netns` (a netns file) runs the plugins inside that namespace."""

    def __init__(self, path=None, cache_dir: str | None = None, env: dict | None = None,
                 host_netns: str | None = None, timeout: float = invoke.TIMEOUT) -> None:
        if path is None:
            path = [p for p in os.environ.get("CNI_PATH", "").split(":") if p] or list(DEFAULT_PATH)
        self.path = [path] if isinstance(path, str) else list(path)
        self.cache = ResultCache(cache_dir)
        self.env = dict(env or {})
        self.host_netns = host_netns
        self.timeout = timeout

    # ---- running one plugin ----------------------------------------------------------------

    def find(self, plugin_type: str) -> str:
        """The plugin's executable in the path."""
        try:
            return invoke.find_plugin(plugin_type, self.path)
        except CNIError as e:
            raise PluginNotFound(plugin_type, f"{e.msg}: {e.details}" if e.details else e.msg) from None

    def _exec(self, plugin: dict, command: str, stdin: bytes, rt: RuntimeConf | None = None,
              network: str = "") -> str:
        """Run one command of one plugin; its stdout, or PluginError."""
        plugin_type = plugin.get("type", "")
        if self.host_netns and not os.path.exists(self.host_netns):
            raise CNIRuntimeError(f"cannot run plugin {plugin_type}: the host network namespace "
                                  f"{self.host_netns} does not exist")
        env = invoke.cni_env(command, rt.container_id, rt.netns, rt.ifname, rt.args, self.path) if rt \
            else invoke.cni_env(command, path=self.path)
        try:
            response = invoke.execute(self.find(plugin_type), env, stdin, extra_env=self.env,
                                      netns=self.host_netns, capture_stderr=True, timeout=self.timeout)
        except CNIError as e:
            raise PluginError(plugin_type, command, e.code, e.msg, e.details, network) from None
        if response.stderr.strip():
            log.warning("%s %s: %s", plugin_type, command, response.stderr.strip())
        if response.exit_code == 0:
            return response.stdout
        error = invoke.reported_error(response)
        if error is not None:
            raise PluginError(plugin_type, command, error.code, error.msg, error.details, network)
        said = (response.stderr.strip() or response.stdout.strip())[-300:]
        raise PluginError(plugin_type, command, NO_CNI_ERROR,
                          f"exited with status {response.exit_code} without printing a CNI error",
                          said or "it printed nothing", network)

    def _result(self, net, plugin: dict, stdout: str) -> dict:
        """The plugin's ADD result, converted to the network's version."""
        plugin_type = plugin.get("type", "")
        try:
            document = json.loads(stdout)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            return parse_result(document, f"{plugin_type} result", net.cni_version)[1].render(net.cni_version)
        except ValueError as e:
            raise PluginError(plugin_type, "ADD", DECODE_FAILURE, "printed something that is not a CNI result",
                              f"{e}; output: {stdout.strip()[:200]!r}", net.name) from None
        except CNIError as e:
            raise PluginError(plugin_type, "ADD", DECODE_FAILURE, "printed an invalid CNI result",
                              str(e), net.name) from None

    # ---- attachments -----------------------------------------------------------------------

    def add(self, net, rt: RuntimeConf) -> dict:
        """ADD the container to the network; the final result (network's version), also cached."""
        if not rt.netns:
            raise CNIRuntimeError(f"ADD to network {net.name!r} needs the container's netns")
        result = None
        for plugin in net.plugins:
            stdout = self._exec(plugin, "ADD", plugin_stdin(net, plugin, rt, result), rt, net.name)
            result = self._result(net, plugin, stdout)
        self.cache.write(net.name, rt.container_id, rt.ifname,
                         encode(net.name, net.raw, rt.container_id, rt.ifname, rt.netns, rt.args,
                                rt.capability_args, result))
        return result

    def delete(self, net, rt: RuntimeConf) -> None:
        """DEL the container from the network, last plugin first; the cache entry goes at the end."""
        prev = None
        if at_least(net.cni_version, "0.4.0"):
            try:
                prev = self.cached_result(net, rt)
            except CNIRuntimeError as e:  # a broken entry must not block the DEL (libcni drops it too)
                log.warning("network %s: ignoring the cached result: %s", net.name, e)
                self.cache.remove(net.name, rt.container_id, rt.ifname)
        for plugin in reversed(net.plugins):
            self._exec(plugin, "DEL", plugin_stdin(net, plugin, rt, prev), rt, net.name)
        self.cache.remove(net.name, rt.container_id, rt.ifname)

    def check(self, net, rt: RuntimeConf) -> None:
        """CHECK every plugin with the cached result (nothing when the network sets disableCheck)."""
        if not at_least(net.cni_version, "0.4.0"):
            raise CNIRuntimeError(f"network {net.name!r}: CHECK is not defined in CNI {net.cni_version} "
                                  "(it needs cniVersion 0.4.0 or newer)")
        if net.disable_check:
            return
        prev = self.cached_result(net, rt)
        if prev is None:
            raise CNIRuntimeError(f"network {net.name!r}: no cached result for container {rt.container_id} "
                                  f"interface {rt.ifname} in {self.cache.dir} (was it added with this cache?)")
        for plugin in net.plugins:
            self._exec(plugin, "CHECK", plugin_stdin(net, plugin, rt, prev), rt, net.name)

    def cached_result(self, net, rt: RuntimeConf) -> dict | None:
        """The cached ADD result of the attachment, or None. Given a NetworkConfig (not only its
        name), the result is converted to the network's version, as libcni does for prevResult."""
        name = net if isinstance(net, str) else net.name
        entry = self.cache.read(name, rt.container_id, rt.ifname)
        if entry is None or entry["result"] is None:
            return None
        if isinstance(net, str):
            return entry["result"]
        try:
            return parse_result(entry["result"], "cached result", net.cni_version)[1].render(net.cni_version)
        except CNIError as e:
            raise CNIRuntimeError(f"{self.cache.path(name, rt.container_id, rt.ifname)}: {e}") from None

    def cached_attachments(self, net_name: str | None = None) -> list[dict]:
        """The cached attachments of a network (all networks if None): dicts with container_id,
        ifname, network, netns, cni_args, capability_args, config (bytes), result, path."""
        return self.cache.attachments(net_name)

    # ---- network-wide ----------------------------------------------------------------------

    def gc(self, net, valid=()) -> None:
        """DEL every cached attachment of the network not in `valid` [(container_id, ifname), ...]
        (RuntimeConfs or {"containerID", "ifname"} dicts too), then GC each plugin with cni.dev/valid-attachments (1.1.0+); nothing when disableGC."""
        if net.disable_gc:
            return
        live = {_attachment(v) for v in valid}
        failures: list[CNIRuntimeError] = []
        for entry in self.cache.attachments(net.name):
            if (entry["container_id"], entry["ifname"]) in live:
                continue
            try:
                self.delete(net, RuntimeConf(entry["container_id"], entry["netns"], entry["ifname"],
                                             tuple(entry["cni_args"]), entry["capability_args"]))
            except CNIRuntimeError as e:
                failures.append(CNIRuntimeError(f"stale attachment {entry['container_id']}/{entry['ifname']}: {e}"))
        if at_least(net.cni_version, "1.1.0"):
            attachments = [{"containerID": c, "ifname": i} for c, i in sorted(live)]
            # libcni also sends the name the spec first used (containernetworking/cni#1101)
            extra = {"cni.dev/valid-attachments": attachments, "cni.dev/attachments": attachments}
            for plugin in net.plugins:
                try:
                    self._exec(plugin, "GC", plugin_stdin(net, plugin, extra=extra), network=net.name)
                except CNIRuntimeError as e:
                    failures.append(e)
        if failures:
            raise GCError(net.name, failures)

    def status(self, net) -> None:
        """STATUS of each plugin (1.1.0+; older networks have none): the first failure raises."""
        if not at_least(net.cni_version, "1.1.0"):
            return
        for plugin in net.plugins:
            self._exec(plugin, "STATUS", plugin_stdin(net, plugin), network=net.name)

    def version_info(self, plugin_type: str, cni_version: str = "1.1.0") -> dict:
        """The plugin's VERSION answer ({"cniVersion", "supportedVersions"})."""
        plugin = {"type": plugin_type}
        stdout = self._exec(plugin, "VERSION", json.dumps({"cniVersion": cni_version}).encode())
        try:
            answer = json.loads(stdout)
            if not isinstance(answer.get("supportedVersions"), list):
                raise ValueError("no supportedVersions list")
            return answer
        except (ValueError, AttributeError) as e:
            raise PluginError(plugin_type, "VERSION", DECODE_FAILURE, "printed no version information",
                              f"{e}; output: {stdout.strip()[:200]!r}") from None

    def validate(self, net) -> list[str]:
        """Every plugin exists and supports the network's version; the capabilities they declare."""
        capabilities: set[str] = set()
        for plugin in net.plugins:
            supported = self.version_info(plugin["type"], net.cni_version)["supportedVersions"]
            if net.cni_version not in supported:
                raise PluginError(plugin["type"], "VERSION", 1, "incompatible CNI version",
                                  f"network {net.name!r} is {net.cni_version}, the plugin supports "
                                  + ", ".join(map(str, supported)), net.name)
            capabilities |= {c for c, on in (plugin.get("capabilities") or {}).items() if on is True}
        return sorted(capabilities)
