"""host-local's store in a process that keeps running (the agent): each reservation file is read
once, however many containers the network holds, and what decides about a container's own
addresses (its ADD, its DEL, GC) reads the files again. No root needed: files in a temporary dir."""

from __future__ import annotations

import ipaddress
import os

import pytest

from cni.ipam import store as store_module
from cni.ipam import watch
from cni.ipam.store import Store


@pytest.fixture
def reads(monkeypatch):
    """The reservation files read from now on."""
    seen: list[str] = []
    owner = Store._owner

    def counting(self, name):
        seen.append(name)
        return owner(self, name)

    monkeypatch.setattr(Store, "_owner", counting)
    return seen


def write(store: Store, address: str, content: str) -> None:
    with open(os.path.join(store.directory, address), "w") as f:
        f.write(content)


def believe(store: Store, address: str, owner: tuple[str, str]) -> None:
    """Make this process's memory of a file wrong (what a file put in the place of another with the
    same inode and change time would do, on a filesystem with coarse timestamps)."""
    seen = store_module._SEEN[store.directory]
    seen.put(address, seen.files[address], owner)


@pytest.fixture(params=["inotify", "listing"])
def store(request, tmp_path, monkeypatch):
    """200 reservations; what changed is known from inotify, or (without it) from listing the files."""
    if request.param == "listing":
        monkeypatch.setattr(watch, "changes", lambda path: None)
    s = Store(str(tmp_path), "net1")
    with s.locked():
        for n in range(200):
            assert s.reserve(f"10.1.{n // 100}.{n % 100 + 2}", f"c{n}", "eth0", 0)
    yield s
    store_module._SEEN.pop(s.directory, None)


def test_a_second_look_reads_no_file_again(store, reads):
    with store.locked():
        first = store.reservations()
        assert len(first) == 200 and first["10.1.0.2"] == ("c0", "eth0")
        reads.clear()
        assert store.reservations() == first
        assert store.owned_by("c7", "eth0") == ["10.1.0.9"]
    assert reads == ["10.1.0.9"]  # the DEL's own address, read again to be sure


def test_new_and_replaced_files_are_read(store, reads):
    with store.locked():
        store.reservations()
        store.release(["10.1.0.2"])
        assert store.reserve("10.1.0.2", "new", "eth1", 0)
        write(store, "10.1.5.5", "other\r\neth0")
        reads.clear()
        held = store.reservations()
    assert held["10.1.0.2"] == ("new", "eth1") and held["10.1.5.5"] == ("other", "eth0")
    assert sorted(reads) == ["10.1.0.2", "10.1.5.5"]


def test_a_file_put_in_the_place_of_another_is_read(store, reads):
    with store.locked():
        store.reservations()
        os.unlink(os.path.join(store.directory, "10.1.0.3"))
        write(store, "10.1.0.3", "x1\r\neth0")  # was c1's
        reads.clear()
        assert store.reservations()["10.1.0.3"] == ("x1", "eth0")
    assert reads == ["10.1.0.3"]


def test_what_decides_about_a_container_reads_its_files_again(store):
    with store.locked():
        store.reservations()
        believe(store, "10.1.0.3", ("x1", "eth0"))  # c1's file, remembered as x1's
        assert store.owned_by("x1", "eth0") == []  # x1's DEL: its file is read again, it is not x1's
        assert store.owned_by("c1", "eth0", ["10.1.0.3"]) == ["10.1.0.3"]  # c1's DEL, with prevResult
        believe(store, "10.1.0.4", ("x2", "eth0"))
        assert store.reservations(container_id="c2")["10.1.0.4"] == ("x2", "eth0")  # (remembered)
        assert store.reservations(cached=False)["10.1.0.4"] == ("c2", "eth0")  # as GC reads


def test_gc_reads_every_file(tmp_path):
    import json

    from cni.ipam.host_local.commands import gc
    from cni.spec.env import Invocation
    from cni.spec.request import request_for

    s = Store(str(tmp_path), "net1")
    with s.locked():
        for n in range(3):
            s.reserve(f"10.1.0.{n + 2}", f"c{n}", "eth0", 0)
        s.reservations()
        believe(s, "10.1.0.2", ("gone", "eth0"))  # c0's, remembered as a container that is gone
    config = {"cniVersion": "1.1.0", "name": "net1", "type": "host-local",
              "ipam": {"type": "host-local", "dataDir": str(tmp_path), "ranges": [[{"subnet": "10.1.0.0/24"}]]},
              "cni.dev/valid-attachments": [{"containerID": "c0", "ifname": "eth0"}]}
    gc(request_for(Invocation(command="GC", path=("/x",)), json.dumps(config).encode()))
    assert sorted(os.listdir(s.directory)) == ["10.1.0.2", "last_reserved_ip.0", "lock"]
    store_module._SEEN.pop(s.directory, None)


def test_the_last_reserved_hint_is_never_renamed_over(tmp_path, monkeypatch):
    """Renaming a new file over it made ext4 write the data to disk on every ADD (3-5 ms)."""
    s = Store(str(tmp_path), "net1")
    path = os.path.join(s.directory, "last_reserved_ip.0")
    renames = []
    rename = os.rename
    monkeypatch.setattr(os, "replace", lambda *a, **kw: pytest.fail("renamed over the hint"))
    monkeypatch.setattr(os, "rename", lambda src, dst: (renames.append(os.path.exists(dst)), rename(src, dst)))
    with s.locked():
        assert s.reserve("10.1.0.100", "c1", "eth0", 0)
        assert s.reserve("10.1.0.99", "c2", "eth0", 0)
        assert s.last_reserved(0) == ipaddress.ip_address("10.1.0.99")
        target = tmp_path / "elsewhere"
        target.write_text("keep")
        os.unlink(path)
        os.symlink(target, path)  # never written through
        assert s.reserve("10.1.0.98", "c3", "eth0", 0)
        assert target.read_text() == "keep" and not os.path.islink(path)
        assert s.last_reserved(0) == ipaddress.ip_address("10.1.0.98")
    assert renames == [False, False, False]
    store_module._SEEN.pop(s.directory, None)


def test_the_watcher_names_what_changed_and_starts_over_when_it_cannot_know(tmp_path):
    directory = tmp_path / "d"
    directory.mkdir()
    watcher = watch.Watcher()
    assert watcher.changes(str(directory)) is None  # the first look: everything
    (directory / "a").write_text("x")
    os.rename(directory / "a", directory / "b")
    assert watcher.changes(str(directory)) == {"a", "b"}
    assert watcher.changes(str(directory)) == set()
    os.unlink(directory / "b")
    directory.rmdir()
    directory.mkdir()  # another directory under the same name: its watch is a new one
    assert watcher.changes(str(directory)) is None
    (directory / "c").write_text("x")
    assert watcher.changes(str(directory)) == {"c"}


@pytest.mark.parametrize("looks", ["inotify", "listing"])
def test_a_killed_writers_temporaries_are_removed_at_the_next_look(tmp_path, monkeypatch, looks):
    s = Store(str(tmp_path), "net1")
    with s.locked():
        s.reservations()
    if looks == "listing":
        monkeypatch.setattr(watch, "changes", lambda path: None)
    for name in (".pynet-tmp-killed0", ".pynet-tmp-killed1"):
        (tmp_path / "net1" / name).write_text("c9\r\n")  # what a writer killed before its link left
    with s.locked():
        assert s.reservations() == {}
    assert sorted(os.listdir(s.directory)) == ["lock"]
    store_module._SEEN.pop(s.directory, None)
