"""The crash storm (tests/integration/storm.py): concurrent ADDs and DELs across four bridge + portmap
networks while plugin processes and the agent are killed with kill -9, three rounds; then the
runtime's DEL and GC leave nothing, and no address was ever in two containers. Bounded: about a
minute or two here (PYNET_STORM_OPS, PYNET_STORM_ROUNDS size it; bench/storm.py prints the figures)."""

from __future__ import annotations

import json

import pytest

from tests.integration.storm import Storm, summary

pytestmark = pytest.mark.root


def test_crash_storm_leaves_no_duplicate_address_and_nothing_behind(make_netns, tmp_path, token):
    storm = Storm(make_netns, str(tmp_path), token)
    figures = storm.run()
    print(summary(figures))
    shown = json.dumps(figures, indent=1)
    assert figures["calls"].get("ADD ok", 0) > 0 and figures["kills"].get("plugin", 0) > 0, shown
    if figures["through the agent"]:
        assert figures["kills"].get("agent", 0) >= figures["rounds"], shown
    assert figures["duplicate addresses"] == [], shown
    assert figures["final DEL errors"] == [] and figures["GC errors"] == [], shown
    assert {kind: items for kind, items in figures["leftovers"].items() if items} == {}, shown
