"""cni/lab/status.py's `running`: what runs, by the names the lab's file gave, from what the hosts say."""

from __future__ import annotations

from cni.lab.status import running

LAB = {"prefix": "pnlab-", "network": "blue",
       "networks": {"blue": {}, "red": {}},
       "hosts": [{"name": "pnlab-h1"}, {"name": "pnlab-h2"}],
       "containers": [{"name": "pnlab-web", "host": 1, "network": "blue"},
                      {"name": "pnlab-r2", "host": 2, "network": "red"}]}


def test_running_in_the_files_names():
    rows = {1: [{"name": "pnlab-web", "network": "blue", "status": "running", "addresses": ["10.50.1.2/24"]},
                {"name": "pnlab-extra", "network": "blue", "status": "exited", "addresses": []}],
            2: None}  # host 2's runtime did not answer
    now = running(LAB, rows.get, {(1, "blue"): ["10.50.0.0/24"], (2, "red"): []})
    assert now["hosts"] == {"h1": {"up": True}, "h2": {"up": False}}
    assert now["networks"] == {"blue": {"h1": ["10.50.0.0/24"], "h2": []}, "red": {"h1": [], "h2": []}}
    assert now["containers"] == {
        "web": {"host": "h1", "network": "blue", "status": "running", "address": "10.50.1.2/24"},
        "extra": {"host": "h1", "network": "blue", "status": "exited", "address": ""},  # a user's, listed too
        "r2": {"host": "h2", "network": "red", "status": "missing", "address": ""}}
