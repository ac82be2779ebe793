"""The lock file of a serving process (cni.lockfile): one holder at a time, removed by its holder."""

import os

from cni.lockfile import claim, mark, release, same_file


def test_one_holder_at_a_time_and_the_holder_removes_it(tmp_path):
    path = str(tmp_path / "run" / "x.lock")
    first = claim(path)
    assert first is not None and claim(path) is None  # (another open file: flock refuses it)
    mark(first, "123 build")
    with open(path) as f:
        assert f.read() == "123 build\n"
    release(first, path, str(tmp_path / "run" / "x.sock"))  # a companion that is not there: fine
    assert not os.path.exists(path) and first.closed
    second = claim(path)
    assert second is not None and same_file(second, path)
    os.unlink(path)  # replaced under its holder: it removes nothing that is not its own
    third = claim(path)
    release(second, path)
    assert os.path.exists(path) and same_file(third, path)
    release(third, path)
    release(None, path)  # a lock not held: nothing to do
