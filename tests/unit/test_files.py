"""cni.files: what a configuration names is read only if it is a regular file, and only so much of it."""

from __future__ import annotations

import errno
import os

import pytest

from cni.files import open_regular, read_regular


def test_a_regular_file_is_read(tmp_path):
    (tmp_path / "resolv.conf").write_bytes(b"nameserver 10.0.0.1\n")
    assert read_regular(str(tmp_path / "resolv.conf")) == b"nameserver 10.0.0.1\n"


@pytest.mark.parametrize("kind,make", [
    ("a FIFO", lambda p: os.mkfifo(p)),  # open() would wait for a writer forever
    ("a directory", lambda p: os.mkdir(p)),
])
def test_what_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind, make):
    path = str(tmp_path / "thing")
    make(path)
    with pytest.raises(OSError) as e:
        read_regular(path)
    assert e.value.errno == errno.EINVAL and kind in e.value.strerror


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused(device):
    with pytest.raises(OSError) as e:
        read_regular(device)
    assert e.value.errno == errno.EINVAL and "a device" in e.value.strerror


def test_a_symlink_to_a_regular_file_is_followed(tmp_path):
    (tmp_path / "real").write_bytes(b"x")
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert read_regular(str(tmp_path / "link")) == b"x"


def test_a_file_beyond_the_limit_is_refused(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 101)
    assert read_regular(str(tmp_path / "big"), limit=101) == b"x" * 101
    with pytest.raises(OSError) as e:
        read_regular(str(tmp_path / "big"), limit=100)
    assert e.value.errno == errno.EFBIG and "100 bytes" in e.value.strerror


def test_a_missing_file_is_enoent(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_regular(str(tmp_path / "missing"))
