"""The Go reference libcni, as a small command (gocni.go) for interop tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile

SOURCE = os.path.join(os.path.dirname(__file__), "gocni.go")
GOPATH = "/usr/share/gocode"  # Debian golang-github-appc-cni-dev
LIBCNI = os.path.join(GOPATH, "src/github.com/containernetworking/cni/libcni")


def missing() -> str:
    """Why gocni cannot be built here ("" when it can)."""
    if not shutil.which("go"):
        return "go is not installed (apt-get install golang-go)"
    if not os.path.isdir(LIBCNI):
        return f"libcni sources are not in {LIBCNI} (apt-get install golang-github-appc-cni-dev)"
    return ""


def build() -> str:
    """The gocni executable, built offline once per source version into the temp dir."""
    with open(SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    out_dir = os.path.join(tempfile.gettempdir(), f"pynet-gocni-{digest}")
    target = os.path.join(out_dir, "gocni")
    if os.access(target, os.X_OK):
        return target
    os.makedirs(out_dir, exist_ok=True)
    partial = f"{target}.{os.getpid()}"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOFLAGS": "", "GOPROXY": "off",
           "GOCACHE": os.path.join(out_dir, "cache")}
    done = subprocess.run(["go", "build", "-o", partial, SOURCE], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"building gocni failed: {done.stderr[-2000:]}")
    os.replace(partial, target)  # atomic: parallel test workers may build it at the same time
    return target
