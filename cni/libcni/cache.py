"""libcni's result cache, in its exact format and place, so libcni-based runtimes and pynet share it.

`<cache dir>/results/<network>-<container id>-<ifname>` holds one JSON object (Go's field order):
kind "cniCacheV1", containerId, config (base64 of the network list's bytes), ifName, networkName,
netns, cniArgs ([[key, value], ...]), capabilityArgs, result. The last four are left out when empty
(Go's omitempty); libcni before 1.2 writes no netns. A file that is a bare result is an older
libcni's cache and is read as such.
"""

from __future__ import annotations

import base64
import binascii
import json
import os

from ..files import write_atomic
from .errors import CNIRuntimeError

DEFAULT_CACHE_DIR = "/var/lib/cni"
KIND = "cniCacheV1"


def cache_dir_of(cache_dir: str | None = None) -> str:
    """The cache directory: the argument, else $PYNET_CNI_CACHE_DIR, else /var/lib/cni (libcni's)."""
    return cache_dir or os.environ.get("PYNET_CNI_CACHE_DIR") or DEFAULT_CACHE_DIR


def encode(network: str, config: bytes, container_id: str, ifname: str, netns: str = "", cni_args=(),
           capability_args: dict | None = None, result: dict | None = None) -> bytes:
    """The cache file's bytes for one attachment."""
    entry = {"kind": KIND, "containerId": container_id, "config": base64.b64encode(config).decode(),
             "ifName": ifname, "networkName": network}
    if netns:
        entry["netns"] = netns
    if cni_args:
        entry["cniArgs"] = [[k, v] for k, v in cni_args]
    if capability_args:
        entry["capabilityArgs"] = capability_args
    if result:
        entry["result"] = result
    return json.dumps(entry, separators=(",", ":")).encode()


def decode(data: bytes, where: str = "cache file") -> dict:
    """One attachment from a cache file's bytes: container_id, ifname, network, netns, cni_args,
    capability_args, config (bytes) and result (the result as cached, or None)."""
    try:
        entry = json.loads(data)
    except ValueError as e:
        raise CNIRuntimeError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(entry, dict):
        raise CNIRuntimeError(f"{where}: not a JSON object")
    if entry.get("kind") != KIND:
        if "cniVersion" in entry:  # a pre-cniCacheV1 cache: the bare result
            return {"container_id": "", "ifname": "", "network": "", "netns": "", "cni_args": [],
                    "capability_args": {}, "config": b"", "result": entry}
        raise CNIRuntimeError(f"{where}: kind {entry.get('kind')!r} is not {KIND!r}")
    try:
        config = base64.b64decode(entry.get("config") or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise CNIRuntimeError(f"{where}: config is not base64") from None
    result = entry.get("result")
    return {"container_id": entry.get("containerId", ""), "ifname": entry.get("ifName", ""),
            "network": entry.get("networkName", ""), "netns": entry.get("netns", ""),
            "cni_args": [(str(p[0]), str(p[1])) for p in entry.get("cniArgs") or [] if isinstance(p, list) and len(p) == 2],
            "capability_args": entry.get("capabilityArgs") or {}, "config": config,
            "result": result if isinstance(result, dict) and result else None}


class ResultCache:
    """The `results` folder of one cache directory."""

    def __init__(self, cache_dir: str | None = None) -> None:
        self.dir = os.path.join(cache_dir_of(cache_dir), "results")

    def path(self, network: str, container_id: str, ifname: str) -> str:
        if not network or not container_id or not ifname:
            raise CNIRuntimeError("the result cache needs a network name, a container id and an interface name "
                                  f"(got {network!r}, {container_id!r}, {ifname!r})")
        return os.path.join(self.dir, f"{network}-{container_id}-{ifname}")

    def write(self, network: str, container_id: str, ifname: str, data: bytes) -> None:
        """Replace the attachment's file at once (a reader never sees half of it)."""
        target = self.path(network, container_id, ifname)
        try:
            write_atomic(target, data, prefix=".tmp-")
        except OSError as e:
            raise CNIRuntimeError(f"cannot write the cached result {target}: {e.strerror or e}") from None

    def read(self, network: str, container_id: str, ifname: str) -> dict | None:
        """The attachment, or None when it has no cache file."""
        path = self.path(network, container_id, ifname)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CNIRuntimeError(f"cannot read the cached result {path}: {e.strerror}") from None
        return decode(data, path)

    def remove(self, network: str, container_id: str, ifname: str) -> None:
        try:
            os.unlink(self.path(network, container_id, ifname))
        except FileNotFoundError:
            pass
        except OSError as e:
            raise CNIRuntimeError(f"cannot remove the cached result: {e.strerror}") from None

    def attachments(self, network: str | None = None) -> list[dict]:
        """Every cniCacheV1 attachment (of `network` if given), by file name; unreadable files and
        files of another kind are skipped, as libcni's GetCachedAttachments skips them."""
        try:
            names = sorted(n for n in os.listdir(self.dir) if not n.startswith(".tmp-"))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            path = os.path.join(self.dir, name)
            try:
                with open(path, "rb") as f:
                    entry = decode(f.read(), path)
            except (OSError, CNIRuntimeError):
                continue
            if not entry["ifname"] or not entry["network"] or (network and entry["network"] != network):
                continue
            found.append({**entry, "path": path})
        return found
