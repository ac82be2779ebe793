"""`pynet topology` on a simulated host: tree, JSON, Graphviz."""

from __future__ import annotations

import shutil

import pytest

from tests.integration.simhost import error_line, simhost  # noqa: F401

pytestmark = pytest.mark.root


@pytest.fixture
def scene(simhost):
    simhost.pynet("create", "bridge", "front", "--subnet", "10.70.0.0/24")
    simhost.pynet("create", "bridge", "empty", "--subnet", "10.71.0.0/24")
    simhost.pynet("run", "-d", "--name", "web", "--network", "front", "-p", "8080:80", "--", "sleep", "300")
    simhost.pynet("run", "-d", "--name", "side", "--network", "container:web", "--", "sleep", "300")
    simhost.pynet("run", "--network", "none", "-d", "--name", "loner", "--", "sleep", "300")
    simhost.pynet("run", "-d", "--name", "hosty", "--network", "host", "--", "sleep", "300")
    return simhost


def test_tree_shows_networks_bridges_veths_containers_and_addresses(scene):
    out = scene.pynet("topology").stdout
    veth = next(n for n in scene.ns.links() if n.startswith("pnv"))
    lines = out.splitlines()
    assert lines[0].startswith("host (net:[")
    assert "├── network front: bridge pn-front (up) 10.70.0.1/24, subnet 10.70.0.0/24" in lines
    assert (f"│   └── veth {veth} ── container web [running] eth0 10.70.0.2/24  ports 8080->80/tcp"
            in lines)
    assert "│       └── joined by side" in lines
    assert "├── network empty: bridge pn-empty (absent), subnet 10.71.0.0/24" in lines
    assert "container loner [running] loopback only" in out and "container hosty [running] host network" in out


def test_json_and_dot(scene):
    model = scene.json("topology")
    front = next(n for n in model["networks"] if n["name"] == "front")
    assert [(a["container"], a["addresses"], a["veth_present"]) for a in front["attachments"]] == \
        [("web", ["10.70.0.2/24"], True)]
    assert sorted(c["name"] for c in model["containers"]) == ["hosty", "loner"]
    dot = scene.pynet("topology", "--format", "dot").stdout
    assert dot.startswith("graph pynet {") and dot.rstrip().endswith("}")
    assert '"net:front" [shape=ellipse, label="network front\\nbridge pn-front\\n10.70.0.1/24\\n10.70.0.0/24"];' in dot
    assert dot.count(" -- ") == 5  # host-front, host-empty, front-web, side-web, host-hosty


def test_svg_needs_graphviz(scene):
    done = scene.pynet("topology", "--format", "svg", check=False)
    if shutil.which("dot"):
        assert done.returncode == 0 and done.stdout.lstrip().startswith("<?xml")
    else:
        assert "needs Graphviz's dot" in error_line(done)
