"""Container state against its monitor (no root): the exit status is recorded under the runtime's
lock, so `rm` (which holds it) never has a file written into the directory it removes."""

from __future__ import annotations

import threading

from cni.containers import state


def test_the_exit_status_waits_for_rm_and_is_not_written_after_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYNET_RUN_DIR", str(tmp_path))
    c = state.new("quick", ["true"], "none")
    c.save()
    with state.locked():  # as rm -f: its processes killed, its directory about to go
        monitor = threading.Thread(target=c.set_exit, args=(137,))
        monitor.start()
        monitor.join(0.3)
        assert monitor.is_alive() and c.exit_code() is None  # waiting for the lock, nothing written
        c.remove()
    monitor.join(5)
    assert not monitor.is_alive() and state.all_containers() == []
    assert not (tmp_path / "containers" / c.id).exists()


def test_the_exit_status_of_a_kept_container_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("PYNET_RUN_DIR", str(tmp_path))
    c = state.new("kept", ["true"], "none")
    c.save()
    c.set_exit(3)
    assert c.exit_code() == 3
