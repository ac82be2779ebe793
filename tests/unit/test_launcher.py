"""cni.launcher.is_own: what CNI_PATH resolves to is pynet's own plugin (its launcher, or its console
script, copied or linked) or another executable of that name, which IPAM delegation must execute."""

from __future__ import annotations

import os
import sys

from cni.launcher import is_own, launcher

HOST_LOCAL = ("host-local", "cni.ipam.host_local")


def write(path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_the_launcher_pynet_plugins_install_writes(tmp_path):
    assert is_own(write(tmp_path / "host-local", launcher(*HOST_LOCAL)), *HOST_LOCAL)


def test_the_console_script_copied_or_linked(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "pynet-host-local")
    os.symlink(script, tmp_path / "host-local")
    assert is_own(str(tmp_path / "host-local"), *HOST_LOCAL)
    with open(script) as f:
        assert is_own(write(tmp_path / "copy", f.read()), *HOST_LOCAL)


def test_anything_else_is_not(tmp_path):
    other_python = launcher(*HOST_LOCAL).replace(sys.executable, "/usr/bin/python3", 1)
    assert not is_own(write(tmp_path / "a", other_python), *HOST_LOCAL)  # another installation
    assert not is_own(write(tmp_path / "b", launcher("static", "cni.ipam.static")), *HOST_LOCAL)  # renamed
    assert not is_own(write(tmp_path / "c", "#!/bin/sh\nexec /usr/lib/cni/host-local\n"), *HOST_LOCAL)
    assert not is_own(str(tmp_path / "missing"), *HOST_LOCAL)
    if os.path.exists("/usr/lib/cni/host-local"):  # the Go reference: a binary
        assert not is_own("/usr/lib/cni/host-local", *HOST_LOCAL)


def test_an_executable_replaced_in_place_is_looked_at_again(tmp_path):
    path = write(tmp_path / "host-local", launcher(*HOST_LOCAL))
    assert is_own(path, *HOST_LOCAL)
    replacement = tmp_path / "new"
    write(replacement, "#!/bin/sh\necho patched\n" + "#" * 400)
    os.replace(replacement, path)
    assert not is_own(path, *HOST_LOCAL)
