"""cni.spec.fastjson parses and writes exactly as json.loads and json.dumps(indent=4) do."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cni.spec.fastjson import dumps, loads

SCALARS = st.none() | st.booleans() | st.integers() | st.text() | st.floats()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
                      | st.tuples(inner, inner), max_leaves=30)


def same(a, b) -> bool:
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False) or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@settings(max_examples=400)
@given(VALUES)
def test_dumps_writes_what_json_dumps_writes(value):
    assert dumps(value) == json.dumps(value, indent=4)


@settings(max_examples=400)
@given(VALUES, st.sampled_from(["", " ", "\n\t ", "\ufeff"]), st.sampled_from(["", " \r\n", " x", "]"]))
def test_loads_reads_what_json_loads_reads(value, before, after):
    text = before + json.dumps(value) + after
    try:
        expected = json.loads(text)
    except ValueError as e:
        with pytest.raises(ValueError) as raised:
            loads(text)
        assert type(raised.value) is type(e) and str(raised.value) == str(e)
    else:
        assert same(loads(text), expected)


@pytest.mark.parametrize("text", ["{not json", '{"a" 1}', '[1,', '"\x01"', "not json"])
def test_malformed_text_gets_json_loads_own_error_in_a_fresh_interpreter(text):
    """(The C scanner reports most errors through json.decoder, which a plugin has not loaded.)"""
    import subprocess
    import sys

    script = ("import sys; from cni.spec.fastjson import loads\n"
              "try: loads(sys.argv[1])\nexcept ValueError as e: print(type(e).__name__, e)")
    done = subprocess.run([sys.executable, "-c", script, text], capture_output=True, text=True, timeout=30)
    try:
        json.loads(text)
    except ValueError as e:
        assert done.stdout.strip() == f"{type(e).__name__} {e}", done.stderr


def test_the_hooks_are_used_and_their_errors_raised():
    def no_constant(name):
        raise ValueError(f"{name} is not a JSON value")

    assert loads('{"a": 1.5}', parse_float=lambda text: ("float", text)) == {"a": ("float", "1.5")}
    with pytest.raises(ValueError, match="NaN is not a JSON value"):
        loads('{"a": NaN}', parse_constant=no_constant)


def test_a_dict_with_keys_that_are_not_strings_is_written_by_json():
    assert dumps({1: [True, None], "b": {}}) == json.dumps({1: [True, None], "b": {}}, indent=4)
