"""A busybox image for the real clients' tests: a root file system of busybox-static's applets, and
the same as an image archive (`docker save` format) that `ctr image import` and `buildah from
docker-archive:` load offline."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile

import pytest

APPLETS = ("sh", "cat", "ps", "ls", "ping", "sleep", "ip", "wget", "httpd", "sysctl", "nslookup")
TAG = "localhost/pynet-busybox:latest"
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}  # uname -m to the OCI names

needed = pytest.mark.skipif(not shutil.which("busybox"), reason="busybox-static is not installed")


def rootfs(root, applets=APPLETS):
    """A tiny root file system at `root` (a pathlib.Path): busybox, its `applets`, /proc, /etc."""
    for d in ("bin", "proc", "etc"):
        (root / d).mkdir(parents=True)
    shutil.copy(shutil.which("busybox"), root / "bin" / "busybox")
    for applet in applets:
        os.symlink("busybox", root / "bin" / applet)
    return root


def image_archive(path, tag: str = TAG) -> str:
    """An image of `rootfs()` with PATH=/bin, written to `path` as a docker-archive tar; returns it."""
    layer = io.BytesIO()
    scratch = path.parent / f"{path.name}.rootfs"
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.add(rootfs(scratch), arcname=".")
    shutil.rmtree(scratch)
    layer = layer.getvalue()
    config = json.dumps({"architecture": ARCH.get(os.uname().machine, os.uname().machine), "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]}})
    config_name = f"{hashlib.sha256(config.encode()).hexdigest()}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer.tar"]}])
    with tarfile.open(path, "w") as tar:
        for name, data in (("layer.tar", layer), (config_name, config.encode()), ("manifest.json", manifest.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)
